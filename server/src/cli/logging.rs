//! Logging set-up: the node's from its configuration, client commands'
//! warnings only; both to standard error, so that standard output stays the
//! commands' results. Progress bars go there too.

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

/// A progress bar on standard error, `None` when that is no terminal.
/// `counts`: what it shows before the time left, e.g.
/// `{pos}/{len} entries ({per_sec}`.
pub fn progress_bar(
    total: u64,
    verb: &'static str,
    counts: &str,
) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{{msg}} [{{bar:40}}] {counts}, {{eta}} left)"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(verb);
        bar
    })
}
