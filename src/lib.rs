//! valfri: free-choice systems (LOV, fritt brukervalg, palveluseteli) in
//! municipal elderly care. Organised by domain; see docs/architecture.md.

pub mod api;
pub mod app;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod bulk;
pub mod choices;
pub mod clients;
pub mod clock;
pub mod compare;
pub mod contracts;
pub mod db;
pub mod decisions;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod providers;
pub mod settlement;
pub mod setup;
pub mod visits;
pub mod web;
