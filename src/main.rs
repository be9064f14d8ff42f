//! The `cairn` command line: see [`cairn::app`].

fn main() -> std::process::ExitCode {
    cairn::app::main()
}
