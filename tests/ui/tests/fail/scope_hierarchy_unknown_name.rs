// An implied scope must be declared in the same block; a typo is refused where it is written.
oauth_runtime::scopes! {
    /// Upload photos
    pub PHOTOS_WRITE = "photos:write" => [PHOTOS_RAED];
    /// See your photos
    pub PHOTOS_READ = "photos:read";
}

#[oauth_runtime::requires_scope(PHOTOS_READ)]
async fn handler() {}

fn main() {}
