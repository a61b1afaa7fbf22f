//! Demo settlement.
