//! The long-running jobs `vigil run` is made of.

pub mod fim;
pub mod fim_live;
pub mod metrics;
pub mod security;
