//! The long-running jobs `vigil run` is made of; each also runs alone
//! from its own subcommand.

pub mod fim;
pub mod fim_selftest;
pub mod metrics;
pub mod security;
pub mod trace;
