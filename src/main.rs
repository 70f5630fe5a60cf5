//! The `coldspare` command. It parses arguments, calls the library crates and
//! turns the outcome into an exit code: 0 all is well, 1 a problem was found,
//! 2 coldspare could not run. All the work lives in the library crates.

// The binary is the one place that talks to the terminal.
#![allow(clippy::print_stdout)]

mod cli;
mod shared;

fn main() -> std::process::ExitCode {
    cli::main()
}
