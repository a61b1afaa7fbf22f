//! Passwords are stored as argon2id PHC strings.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A valid hash of a random password, used to spend the time of a real check
/// when the username does not exist.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vq0pVhH9S8v2QyH7t7rD7y2lTtY2nqkq7v5xJm9X0aE";

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Passwords are at least 10 characters; length matters more than classes.
pub fn check_strength(password: &str) -> Result<(), crate::error::Msg> {
    if password.chars().count() < 10 {
        return Err(crate::error::Msg("password_too_short", "a password has at least 10 characters".into()));
    }
    Ok(())
}
