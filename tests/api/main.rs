//! One test binary for every HTTP-level test: each module is a domain, and
//! every test starts a real server with a fresh database (see `common`).
#![allow(clippy::unwrap_used)]

mod common;

mod access;
mod assignments;
mod bench_smoke;
mod choices;
mod compare;
mod contracts;
mod decisions;
mod foundation;
mod robustness;
mod settlement;
mod visits;
