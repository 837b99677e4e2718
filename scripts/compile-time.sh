#!/usr/bin/env bash
# What `#[requires_scope]` costs at compile time (issue 14, "Compile time").
#
# Generates two library crates of N axum handlers (default 100) that differ only in the
# attribute: `guarded` has `#[requires_scope(..)]` on every handler, `plain` has the same
# handlers without it. Both build the same router (`pub fn app() -> Router`), which makes rustc
# instantiate every handler's extractor and future, as an application's router does. A library
# and not a binary, so that the figure is the crate's own compile time and not the linker's.
#
# Dependencies are built once per profile; then each crate is rebuilt alone (its `lib.rs`
# touched, `CARGO_INCREMENTAL=0`), alternating plain and guarded so that a change in the
# machine's load hits both alike, ROUNDS times (default 3) per profile. The best time of each
# is kept (wall clock and CPU time apart) and the ratios to plain printed. A third crate, `extractor`, is `plain` with a
# non-generic extractor (`Claims`) added first to every handler: what axum's own code for one
# more extractor costs. A fifth, `noop`, adds instead an extractor that does nothing at all (a
# ready future that cannot fail): the floor of anything that is an extractor. A sixth, `typed`,
# adds an extractor of a type of its own per handler (`Typed<RequiresN>`) that does nothing but
# could refuse with the guard's rejection type: the floor of any extractor that carries the
# handler's requirement in its type, which is how an extractor learns it.
#
# CTIME_COUNT=instructions measures instead the instructions rustc executes for each crate
# (valgrind's cachegrind, one build each, about a minute per debug build and four per release
# build): the same for every run of the same build, whatever else the machine does, where CPU
# time on a shared virtual machine moves by 10 to 20 % between rounds.
#
# Usage: scripts/compile-time.sh [N] [ROUNDS]
# Environment: CTIME_DIR (where the crates and their target dir go; default
# target/compile-time of this workspace, which git ignores), CTIME_PROFILES ("debug release").
# Needs the workspace's crates in cargo's cache (it builds `--offline` against the
# workspace's Cargo.lock).
set -euo pipefail

N=${1:-100}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${CTIME_DIR:-$ROOT/target/compile-time}
PROFILES=${CTIME_PROFILES:-debug release}
export CARGO_TARGET_DIR=$DIR/target
export CARGO_INCREMENTAL=0

mkdir -p "$DIR"
cat >"$DIR/Cargo.toml" <<EOF
[workspace]
resolver = "3"
members = ["guarded", "plain", "extractor", "handmade", "noop", "typed"]

[workspace.dependencies]
oauth-runtime = { path = "$ROOT/oauth-runtime", default-features = false, features = ["axum"] }
axum = { version = "0.8.9", default-features = false, features = ["tokio", "http1", "json"] }
EOF
# The workspace's versions, so that nothing is resolved anew (and nothing downloaded).
cp "$ROOT/Cargo.lock" "$DIR/Cargo.lock"

# Handler i: a mix of the shapes applications write (no extractor, a path parameter, the
# claims), with requirements of one scope, all of two and any of two.
# Handler i's requirement as the attribute's expansion writes it.
requirement() {
    local scope='Requirement::Scope(ScopeToken::from_static("%s"))'
    case $(($1 % 3)) in
    0) printf "$scope" photos:read ;;
    1) printf "Requirement::All(Cow::Borrowed(&[$scope, $scope]))" photos:write photos:delete ;;
    2) printf "Requirement::Any(Cow::Borrowed(&[$scope, $scope]))" photos:read albums:read ;;
    esac
}

handler() {
    local i=$1 guarded=$2 first=""
    # The third crate's handlers take a non-generic extractor (`Claims`) first, where the guard
    # goes: what any added extractor costs axum, the floor of a guard that is an extractor.
    [ "$guarded" = 2 ] && first="_first: Claims, "
    [ "$guarded" = 4 ] && first="_first: Noop, "
    if [ "$guarded" = 5 ]; then
        first="_first: Typed<Requires$i>, "
        echo "pub struct Requires$i;"
    fi
    # The fourth crate's handlers take a `ScopeGuard` whose requirement type is written by hand,
    # without the attribute (no expansion, no catalog entry): what the guard's type costs alone.
    if [ "$guarded" = 3 ]; then
        first="_guard: ScopeGuard<Requires$i>, "
        echo "pub struct Requires$i;"
        echo "impl ScopeRequirement for Requires$i {"
        echo "    const REQUIREMENT: &'static Requirement = &$(requirement "$i");"
        echo "}"
    fi
    if [ "$guarded" = 1 ]; then
        case $((i % 3)) in
        0) echo "#[requires_scope(\"photos:read\")]" ;;
        1) echo "#[requires_scope(\"photos:write\", \"photos:delete\")]" ;;
        2) echo "#[requires_scope(any(\"photos:read\", \"albums:read\"))]" ;;
        esac
    fi
    case $((i % 3)) in
    0) echo "pub async fn handler_$i(${first}) -> &'static str { \"handler $i\" }" ;;
    1) echo "pub async fn handler_$i(${first}Path(id): Path<u32>) -> String { format!(\"photo {id} of handler $i\") }" ;;
    2) echo "pub async fn handler_$i(${first}claims: Claims) -> String { format!(\"{} at handler $i\", claims.subject().unwrap_or(\"?\")) }" ;;
    esac
}

generate() {
    local name=$1 guarded=$2
    mkdir -p "$DIR/$name/src"
    cat >"$DIR/$name/Cargo.toml" <<EOF
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
oauth-runtime.workspace = true
axum.workspace = true
EOF
    {
        echo "#![allow(unused_imports)]"
        echo "use axum::{Router, extract::Path, routing::get};"
        echo "use std::borrow::Cow;"
        echo "use oauth_runtime::{Authenticator, Claims, requires_scope};"
        echo "use oauth_runtime::{Requirement, ScopeGuard, ScopeRequirement, ScopeToken};"
        if [ "$guarded" = 4 ]; then
            echo "pub struct Noop;"
            echo "impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Noop {"
            echo "    type Rejection = std::convert::Infallible;"
            echo "    fn from_request_parts(_: &mut axum::http::request::Parts, _: &S)"
            echo "        -> impl Future<Output = Result<Self, Self::Rejection>> + Send {"
            echo "        std::future::ready(Ok(Noop))"
            echo "    }"
            echo "}"
        fi
        if [ "$guarded" = 5 ]; then
            echo "pub struct Typed<R>(std::marker::PhantomData<fn() -> R>);"
            echo "impl<S: Send + Sync, R> axum::extract::FromRequestParts<S> for Typed<R> {"
            echo "    type Rejection = oauth_runtime::axum::AuthRejection;"
            echo "    fn from_request_parts(_: &mut axum::http::request::Parts, _: &S)"
            echo "        -> impl Future<Output = Result<Self, Self::Rejection>> + Send {"
            echo "        std::future::ready(Ok(Typed(std::marker::PhantomData)))"
            echo "    }"
            echo "}"
        fi
        echo
        for ((i = 0; i < N; i++)); do
            handler "$i" "$guarded"
        done
        echo
        echo "pub fn app(authenticator: &Authenticator) -> Router {"
        echo "    Router::new()"
        for ((i = 0; i < N; i++)); do
            if ((i % 3 == 1)); then
                echo "        .route(\"/h$i/{id}\", get(handler_$i))"
            else
                echo "        .route(\"/h$i\", get(handler_$i))"
            fi
        done
        echo "        .layer(authenticator.layer())"
        echo "}"
    } >"$DIR/$name/src/lib.rs.new"
    # Rewritten only when changed, so that a second run reuses the first one's build.
    if ! cmp -s "$DIR/$name/src/lib.rs.new" "$DIR/$name/src/lib.rs" 2>/dev/null; then
        mv "$DIR/$name/src/lib.rs.new" "$DIR/$name/src/lib.rs"
    else
        rm "$DIR/$name/src/lib.rs.new"
    fi
}

generate guarded 1
generate plain 0
generate extractor 2
generate handmade 3
generate noop 4
generate typed 5
CRATES="plain guarded extractor handmade noop typed"

cd "$DIR"
# One rebuild of crate $1 in profile $2: its wall-clock seconds and the CPU seconds (user and
# system) of cargo and the compilers it ran. On a shared machine the wall clock moves with the
# neighbours' load by a factor of two; the CPU time, which is the work done, moves far less.
rebuild() {
    local crate=$1 profile=$2 flag=()
    [ "$profile" = release ] && flag=(--release)
    touch "$crate/src/lib.rs"
    /usr/bin/time -f "%e %U %S" -o "$DIR/time.txt" \
        cargo build --offline --quiet -p "$crate" "${flag[@]}"
    awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$DIR/time.txt"
}

min() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { echo "scale=3; $1 / $2" | bc; }

# Instructions rustc executes building crate $1 in profile $2: cargo prints the rustc command
# it would run (`-v`), which then runs again under cachegrind, its threads' counts summed.
instructions() {
    local crate=$1 profile=$2 flag=() command
    [ "$profile" = release ] && flag=(--release)
    touch "$crate/src/lib.rs"
    command=$(cargo build --offline -v -p "$crate" "${flag[@]}" 2>&1 |
        sed -n "s/^ *Running \`\(.*--crate-name $crate .*\)\`\$/\1/p")
    command=${command//--error-format=json --json=diagnostic-rendered-ansi,artifacts,future-incompat/}
    eval "valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $command" 2>&1 |
        awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
}

if [ "${CTIME_COUNT:-}" = instructions ]; then
    command -v valgrind >/dev/null || { echo "CTIME_COUNT=instructions needs valgrind" >&2; exit 1; }
    echo "# $N handlers, instructions rustc executes (cachegrind), $(rustc --version)"
    for profile in $PROFILES; do
        flag=()
        [ "$profile" = release ] && flag=(--release)
        cargo build --offline --quiet --workspace "${flag[@]}"
        declare -A count=()
        line="$profile:"
        for crate in $CRATES; do
            count[$crate]=$(instructions "$crate" "$profile")
            line+=" $crate ${count[$crate]},"
        done
        echo "${line%,}"
        line="$profile ratio to plain:"
        for crate in $CRATES; do
            [ "$crate" = plain ] || line+=" $crate $(ratio "${count[$crate]}" "${count[plain]}"),"
        done
        echo "${line%,}"
    done
    exit 0
fi

echo "# $N handlers, best of $ROUNDS rebuilds, CARGO_INCREMENTAL=0, $(rustc --version)"
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A best_wall=() best_cpu=()
for profile in $PROFILES; do
    flag=()
    [ "$profile" = release ] && flag=(--release)
    # Dependencies (and a first build of each crate), not measured.
    cargo build --offline --quiet --workspace "${flag[@]}"
    declare -A wall=() cpu=()
    for ((r = 1; r <= ROUNDS; r++)); do
        line="# $profile round $r (wall s, cpu s):"
        for crate in $CRATES; do
            read -r w c < <(rebuild "$crate" "$profile")
            wall[$crate]+=" $w" cpu[$crate]+=" $c"
            line+=" $crate $w $c,"
        done
        echo "${line%,}"
    done
    for crate in $CRATES; do
        # shellcheck disable=SC2086
        best_wall[$crate]=$(min ${wall[$crate]}) best_cpu[$crate]=$(min ${cpu[$crate]})
    done
    line="$profile, best of $ROUNDS (wall s, cpu s):"
    ratios="$profile ratio to plain (wall, cpu):"
    for crate in $CRATES; do
        line+=" $crate ${best_wall[$crate]} ${best_cpu[$crate]},"
        [ "$crate" = plain ] || ratios+=" $crate $(ratio "${best_wall[$crate]}" "${best_wall[plain]}") $(ratio "${best_cpu[$crate]}" "${best_cpu[plain]}"),"
    done
    echo "${line%,}"
    echo "${ratios%,}"
done
