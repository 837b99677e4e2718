// A declared scope's constant, misspelt: the compiler points at the typo.
use oauth_runtime::requires_scope;

oauth_runtime::scopes! {
    /// See your photos
    pub PHOTOS_READ = "photos:read";
}

#[requires_scope(PHOTOS_RAED)]
async fn handler() {}

fn main() {}
