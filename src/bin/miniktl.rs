//! `miniktl`: a kubectl look-alike for minik. All the work happens in the `minik_cli` library (`cli/`).

fn main() -> std::process::ExitCode {
    minik_cli::main()
}
