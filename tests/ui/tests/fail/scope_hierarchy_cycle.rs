// A scope hierarchy goes one way: a cycle is refused at the name that closes it.
oauth_runtime::scopes! {
    /// Manage the photos
    pub PHOTOS_ADMIN = "photos:admin" => [PHOTOS_WRITE];
    /// Upload photos
    pub PHOTOS_WRITE = "photos:write" => [PHOTOS_READ];
    /// See your photos
    pub PHOTOS_READ = "photos:read" => [PHOTOS_ADMIN];
}

#[oauth_runtime::requires_scope(PHOTOS_READ)]
async fn handler() {}

fn main() {}
