//! Logging set-up: the node's from its configuration, client commands'
//! warnings only; both to standard error, so that standard output stays the
//! commands' results.

use anyhow::Context;

use crate::config::{Config, LogFormat};

pub fn init_logs(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).with_context(|| {
        format!(
            "config key `log_level`: `{}` is not a level or filter",
            config.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Client commands log warnings only.
pub fn init_client_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
}
