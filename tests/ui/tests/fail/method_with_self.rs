use oauth_runtime::requires_scope;

struct Api;

impl Api {
    #[requires_scope("photos:read")]
    async fn handler(&self) {}
}

fn main() {}
