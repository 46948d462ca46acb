//! The `redmite` binary: parse the command line, load configuration, run the server,
//! and map failures to an exit code. Everything else lives in the library.

use std::process::ExitCode;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = redmite::cli::parse(std::env::args().collect());
    match redmite::app::main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redmite: {e:#}");
            ExitCode::FAILURE
        }
    }
}
