//! Where events go, resolved from the config and the command line.

use std::path::PathBuf;

use vigil_sinks::output::{Output, Rotation};
use vigil_sinks::syslog::{Syslog, Target};

#[derive(Clone, Debug)]
pub enum OutputSpec {
    Stdout,
    File {
        path: PathBuf,
        rotation: Option<Rotation>,
    },
    Syslog(Target),
}

impl OutputSpec {
    pub fn open(&self) -> Result<Output, String> {
        match self {
            OutputSpec::Stdout => Ok(Output::stdout()),
            OutputSpec::File { path, rotation } => Output::rotating_file(path, *rotation),
            OutputSpec::Syslog(t) => {
                Syslog::open(t.clone(), &vigil_sinks::hostname()).map(Output::Syslog)
            }
        }
    }
}
