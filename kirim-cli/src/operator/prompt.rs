//! Questions to the operator, on a terminal only.

use std::io::{BufRead, IsTerminal, Write};

use super::failure::Failure;

/// Whether a person can be asked: stdin and stderr are terminals.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a yes/no question on stderr; only `y` or `yes` is yes.
pub(crate) fn confirm(question: &str) -> Result<bool, Failure> {
    let answer = ask(&format!("{question} [y/N] "))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Waits for Enter.
pub(crate) fn wait_for_enter(message: &str) -> Result<(), Failure> {
    ask(message).map(drop)
}

fn ask(prompt: &str) -> Result<String, Failure> {
    let mut stderr = std::io::stderr();
    write!(stderr, "{prompt}")
        .and_then(|()| stderr.flush())
        .map_err(|e| Failure::local("cannot write to the terminal", e))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::local("cannot read from the terminal", e))?;
    Ok(line)
}
