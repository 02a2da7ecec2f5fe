//! One module per subcommand.

pub mod doctor;
pub mod events;
pub mod fim;
pub mod run;
pub mod trace_opens;
