fn main() {
    std::process::exit(safe_migrate::cli::run());
}
