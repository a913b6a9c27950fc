//! `ddrive completions <shell>` and `ddrive man`, generated from the command's own definition
//! so they never drift from it.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
}

pub(crate) fn completions(args: CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "ddrive", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn man() -> Result<ExitCode> {
    let cmd = crate::Cli::command();
    clap_mangen::Man::new(cmd)
        .render(&mut std::io::stdout())
        .context("cannot write the man page")?;
    Ok(ExitCode::SUCCESS)
}
