//! Demo contracts.
