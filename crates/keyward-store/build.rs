//! Build script: re-embed migrations when they change.
// Re-embed migrations when one is added or changed (diesel's embed_migrations! does not
// track new folders by itself).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
