use oauth_runtime::{requires_scope, scoped_handlers};

struct Photos;

#[scoped_handlers]
impl Photos {
    #[requires_scope("photos read")]
    async fn list() {}

    #[requires_scope("photos:write")]
    async fn upload(&self) {}
}

trait Handlers {
    fn list();
}

#[scoped_handlers]
impl Handlers for Photos {
    fn list() {}
}

#[scoped_handlers(photos)]
impl Photos {}

fn main() {}
