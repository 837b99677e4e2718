use oauth_runtime::requires_scope;

#[requires_scope("photos:read")]
struct Photos;

fn main() {}
