//! How a hint names the command to run next. An admin with a configuration
//! of their own (`coldspare -c /etc/coldspare/office.yaml`) must be able to
//! paste any hint as it stands: the binary records once, at start, the
//! command with the flags that reach the same configuration, and every
//! message that suggests a command (`help: … coldspare trust NODE`) names it
//! through [`cs`].

use std::sync::OnceLock;

static COMMAND: OnceLock<String> = OnceLock::new();

/// Records the command hints name (`coldspare -c FILE`); the first call wins.
pub fn set(command: String) {
    let _ = COMMAND.set(command);
}

/// The command hints name: `coldspare` unless [`set`] said otherwise.
pub fn cs() -> &'static str {
    COMMAND.get().map(String::as_str).unwrap_or("coldspare")
}
