//! The rules of a free-choice system as plain Rust, with no database and no
//! web: identity numbers and other parsed values, money in öre, months, the
//! municipal calendar and the compensation model. The server crate stores
//! and serves these; every rule that decides who may do what or what is paid
//! is tested here in isolation.

// The workspace denies unsafe code with one exception in the server crate;
// the rules stay free of it without exception.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod compensation;
pub mod ids;
pub mod money;
pub mod month;
pub mod postcode;

pub use money::Money;
pub use month::Month;
