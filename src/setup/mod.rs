//! The municipal setup (step 1–2 of the domain): the municipality, areas with
//! postcodes and zones, service types, choice systems with their versioned
//! conditions, and effective-dated rates.

pub mod api;
pub mod file;
pub mod model;
pub mod store;
pub mod web;
