//! One test binary for every HTTP-level test: each module is a domain, and
//! every test starts a real server with a fresh database (see `common`).
#![allow(clippy::unwrap_used)]

mod common;

mod access;
mod bench_smoke;
mod foundation;
mod compare;
mod contracts;
mod decisions;
mod assignments;
mod choices;
mod settlement;
mod visits;
