//! Random differential scenarios: a generator that writes scenarios which
//! are safe for Linux by construction, and the shrinker that makes a
//! scenario on which the hosts differ smaller.
//!
//! # Shape
//!
//! [`generate`] draws a list of [`Action`]s from a seed (a small
//! deterministic PRNG, no dependencies). [`render`] turns actions into
//! scenario text by walking them through a model of the node:
//!
//! - the device's write path (Linux 6.1's algorithm: partial buffer,
//!   `EINVAL` past 4096 bytes, `E2BIG` for a header longer than 4096, one
//!   message per write, the rest dropped) decides which messages are
//!   complete;
//! - the dispatch of a complete message decides whether it is forwarded
//!   (one reply from xenstored later), answered at once by the node
//!   (`ENOENT` for a transaction id the descriptor does not own, `EINVAL`
//!   for a bad END payload or a malformed WATCH/UNWATCH), or is a
//!   WATCH/UNWATCH;
//! - per descriptor, the replies still to read; per transaction, whether
//!   its START reply was read (its id bound to `$t<k>`), whether its END is
//!   in flight, whether it is gone.
//!
//! The model never needs xenstored's answers: reads name replies by their
//! `req_id` with any type and payload (`msg(_, 0x.., _, _)`), so the
//! transcripts show what each host returned and the comparison judges.
//!
//! # Safe for Linux, and repeatable
//!
//! - `read <fd> 0` is only written (with `nonblock`) when nothing is queued.
//! - Before a WATCH or UNWATCH, every forwarded reply of that descriptor is
//!   read (the self-deadlock of `docs/xenbus-abi.md` 9.2).
//! - A descriptor that ever wrote WATCH/UNWATCH may receive watch events at
//!   any time, so it is only read with `read <fd> all {...}` after a
//!   barrier request (a READ of a node that never exists, listed in the
//!   read): when its reply has come, every change made before is known to
//!   the guest, and the quiet time catches the events.
//! - Linux 6.1 sends a forwarded request's payload from the descriptor's
//!   write buffer some time after write() returned
//!   (`xenbus_dev_request_and_reply` points the request into the buffer),
//!   so a later write on the same descriptor can replace it before it is
//!   sent. Until a forwarded request's reply is read, writes on its
//!   descriptor only put the same bytes where its payload is (pipelined
//!   requests with equal payloads, requests without payload); otherwise
//!   the replies are read first.
//! - Orders the protocol leaves open are read with `unordered` (a
//!   synthetic reply written while a forwarded one is in flight) or
//!   `read all` (events against replies); raw reads of random sizes only
//!   happen when the queued bytes are known (synthetic replies only, or a
//!   single reply followed by a read large enough for any message).
//! - Not generated: RESET_WATCHES, END with `tx_id` 0 and a second END
//!   while the first is in flight (listed deviations whose replies Linux
//!   drops), broad watches (`/`, the home, `data`) whose events depend on
//!   the harness's own traffic, and replies that name the domain id in a
//!   way the transcript cannot canonicalise.
//!
//! Scenarios whose Linux transcript still differs between two runs are set
//! aside by the harness (see `docs/conformance.md`).
//!
//! # Shrinking
//!
//! [`shrink_candidates`] proposes smaller action lists (chunks dropped,
//! then single actions, then simpler actions: no split writes, shorter
//! payloads). Rendering keeps any subset valid: actions whose descriptor is
//! not open, or whose transaction id was never bound, are left out.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::names;

/// The generator's PRNG (SplitMix64): small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo.saturating_add(self.below(hi.saturating_sub(lo).saturating_add(1)))
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// An index chosen by weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        0
    }
}

/// Descriptor names the generator uses.
pub const FD_NAMES: [&str; 4] = ["A", "B", "C", "D"];

/// The descriptor the renderer opens for barrier requests only.
pub const BARRIER_FD: &str = "Z";

/// Sub-paths under the scenario's directory (`data/conf/<name>/<sub>`);
/// the first is the directory itself.
const SUBS: [&str; 9] = ["", "a", "a/b", "a/b/c", "c", "x-_@y", "d/e/f/g/h/i/j/k", "c/n", "a/z"];

/// What a path in a payload is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSel {
    /// `data/conf/<name>/<SUBS[i]>` (relative).
    Rel(u8),
    /// The same node as an absolute path, `/local/domain/$domid/...`.
    Abs(u8),
    /// Under `nx/`, which nothing ever creates.
    Missing(u8),
    /// An odd or invalid path.
    Odd(OddPath),
}

/// Odd paths: most of them xenstored refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OddPath {
    /// `""`.
    Empty,
    /// A trailing `/`.
    TrailingSlash,
    /// `//` inside.
    DoubleSlash,
    /// A `.` component.
    Dot,
    /// A blank inside.
    Blank,
    /// A byte above 0x7f.
    HighByte,
    /// A component of 300 characters.
    LongComponent,
    /// A relative path longer than xenstored accepts.
    TooLong,
    /// `@releaseDomain`.
    Release,
    /// `@introduceDomain`.
    Introduce,
    /// `@` followed by a name xenstored does not know.
    OtherSpecial,
    /// `/` (only for reads: events of `/` depend on everything).
    Root,
}

/// A piece of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A path (no NUL).
    Path(PathSel),
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `n` copies of a byte.
    Run(u8, u16),
    /// The domain id's digits.
    DomId,
}

/// The `tx_id` of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxRef {
    /// 0.
    Zero,
    /// The id of the scenario's `k`-th transaction (`$t<k>`), whoever owns
    /// it and whatever its state: own, foreign, stale.
    Slot(u8),
    /// A literal id no transaction has.
    Lit(u32),
}

/// The `req_id` of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqSel {
    /// The next id of the scenario.
    Auto,
    /// 0 (at most once per scenario).
    Zero,
    /// 0xffffffff (at most once per scenario).
    Max,
}

/// A header that does not tell the truth about the payload's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// `len` is `n` more than the payload: the message stays incomplete;
    /// then `n` filler bytes complete it (`fill`) or a write of 4097 bytes
    /// discards it.
    Long {
        /// Missing bytes.
        n: u16,
        /// Complete it (true) or discard it.
        fill: bool,
    },
    /// `len` is `n` less than the payload (one write: the rest is dropped).
    Short(u16),
    /// `len` is this big (over 4080: E2BIG).
    Huge(u32),
}

/// What is written after the request in the same write() call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extra {
    /// Nothing.
    None,
    /// A second whole READ message (dropped by the node).
    Second,
    /// The first `n` bytes of a second READ message (dropped too).
    Partial(u8),
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    /// Message type.
    pub ty: u32,
    /// `req_id`.
    pub req: ReqSel,
    /// `tx_id`.
    pub tx: TxRef,
    /// Payload pieces.
    pub payload: Vec<Seg>,
    /// A lying `len`.
    pub lie: Option<Lie>,
}

/// How the pending replies of a descriptor are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadStyle {
    /// Message reads of all of them (in order when the order is known).
    All,
    /// Only the first `n` of them, when their order is known.
    Some(u8),
    /// Raw reads of these sizes, when the queued bytes are known.
    Raw(Vec<u16>),
    /// A read on an empty descriptor (`read <fd> <n> nonblock`; 0 allowed).
    Empty(u16),
}

/// One step of a generated scenario, before rendering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `open` (0 RDONLY, 1 WRONLY, 2 RDWR).
    Open {
        /// Descriptor (index into [`FD_NAMES`]).
        fd: u8,
        /// Access mode.
        mode: u8,
        /// `O_NONBLOCK`.
        nonblock: bool,
    },
    /// `close`.
    Close {
        /// Descriptor.
        fd: u8,
    },
    /// `fcntl nonblock|block`.
    Fcntl {
        /// Descriptor.
        fd: u8,
        /// On or off.
        nonblock: bool,
    },
    /// A request, written whole or cut at these offsets, maybe with more
    /// bytes in the same write.
    Request {
        /// Descriptor.
        fd: u8,
        /// The message.
        req: Req,
        /// Cut offsets (each write is a slice of the message).
        cuts: Vec<u16>,
        /// Bytes after the message in its last write.
        extra: Extra,
        /// The same message (new `req_id`s) written this many more times
        /// right after: pipelined requests with equal payloads.
        repeat: u8,
    },
    /// Bytes that are not a well-formed request.
    Raw {
        /// Descriptor.
        fd: u8,
        /// What.
        kind: RawKind,
    },
    /// Read what is pending.
    Read {
        /// Descriptor.
        fd: u8,
        /// How.
        style: ReadStyle,
    },
    /// `poll`.
    Poll {
        /// Descriptors.
        fds: Vec<u8>,
        /// Requested events.
        events: u16,
    },
    /// A dom0 step on `data/conf/<name>/<SUBS[sub]>`.
    Dom0 {
        /// 0 write, 1 rm, 2 mkdir.
        op: u8,
        /// Index into the sub-paths.
        sub: u8,
        /// Value number for writes (0: empty).
        value: u8,
    },
    /// `sleep`.
    Sleep {
        /// Milliseconds.
        ms: u16,
    },
}

/// Bytes that are not a well-formed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// A write of 0 bytes.
    Zero,
    /// 4097 bytes (EINVAL; discards a partial message).
    Oversize,
    /// A header with this type and `len`, and that many payload bytes.
    Header {
        /// Type.
        ty: u32,
        /// `len`.
        len: u16,
        /// Payload byte.
        fill: u8,
        /// `tx_id`.
        tx: u32,
    },
    /// Some bytes of a header (fewer than 16) and nothing else.
    Fragment(Vec<u8>),
}

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Fewest actions.
    pub min_actions: usize,
    /// Most actions.
    pub max_actions: usize,
    /// How long `read <fd> all` waits for quiet (ms).
    pub quiet_ms: u64,
    /// Generate dom0 steps.
    pub dom0: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self { min_actions: 8, max_actions: 36, quiet_ms: 300, dom0: true }
    }
}

/// A generated scenario: where it came from and its actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The run's seed.
    pub seed: u64,
    /// The scenario's index in the run.
    pub index: u32,
    /// The actions.
    pub actions: Vec<Action>,
    /// The settings.
    pub cfg: GenConfig,
    /// Set by the shrinker: how many actions the original had.
    pub shrunk_from: Option<usize>,
}

impl Generated {
    /// Scenario name: `g<seed>-<index>` (zero-padded to 4 digits).
    pub fn name(&self) -> String {
        format!("g{}-{:04}", self.seed, self.index)
    }
}

/// The seed of one scenario of a run.
fn scenario_seed(seed: u64, index: u32) -> u64 {
    let mut r = Rng::new(seed ^ 0x5EED_C0DE_0000_0000 ^ u64::from(index).wrapping_mul(0x9E37_79B9));
    r.next_u64()
}

/// Message types a request can have, with weights (RESET_WATCHES, 21, is
/// never generated).
const TYPES: [(u32, u32); 24] = [
    (names::READ, 14),
    (names::WRITE, 16),
    (12, 5), // MKDIR
    (names::RM, 6),
    (1, 5),  // DIRECTORY
    (3, 3),  // GET_PERMS
    (14, 3), // SET_PERMS
    (10, 2), // GET_DOMAIN_PATH
    (22, 1), // DIRECTORY_PART
    (names::TRANSACTION_START, 7),
    (7, 7), // TRANSACTION_END
    (names::WATCH, 9),
    (names::UNWATCH, 4),
    (0, 1),  // CONTROL
    (8, 1),  // INTRODUCE
    (9, 1),  // RELEASE
    (17, 1), // IS_DOMAIN_INTRODUCED
    (18, 1), // RESUME
    (19, 1), // SET_TARGET
    (15, 1), // WATCH_EVENT
    (16, 1), // ERROR
    (20, 1), // RESTRICT
    (24, 1), // SET_FEATURE
    (0xffff, 1),
];

/// Generates scenario `index` of the run with seed `seed`.
pub fn generate(seed: u64, index: u32, cfg: &GenConfig) -> Generated {
    let mut r = Rng::new(scenario_seed(seed, index));
    let n = r.range(cfg.min_actions as u64, cfg.max_actions as u64) as usize;
    let mut g = GenState { open: [false; 4], mode: [2; 4], slots: 0, watches: Vec::new() };
    let mut actions = Vec::new();
    actions.push(Action::Open { fd: 0, mode: 2, nonblock: r.pct(15) });
    g.open[0] = true;
    while actions.len() < n {
        let a = gen_action(&mut r, &mut g, cfg);
        actions.push(a);
    }
    Generated { seed, index, actions, cfg: cfg.clone(), shrunk_from: None }
}

struct GenState {
    open: [bool; 4],
    mode: [u8; 4],
    slots: u8,
    /// (fd, path, token) of WATCH requests made (for matching UNWATCHes).
    watches: Vec<(u8, PathSel, Vec<u8>)>,
}

impl GenState {
    fn open_fd(&self, r: &mut Rng) -> Option<u8> {
        let open: Vec<u8> = (0..4u8).filter(|&i| self.open.get(usize::from(i)).copied().unwrap_or(false)).collect();
        open.get(r.below(open.len() as u64) as usize).copied()
    }
}

fn gen_action(r: &mut Rng, g: &mut GenState, cfg: &GenConfig) -> Action {
    // open close fcntl request raw read poll dom0 sleep
    let w = [6u32, 3, 2, 46, 3, 18, 6, if cfg.dom0 { 6 } else { 0 }, 2];
    let Some(fd) = g.open_fd(r) else {
        let fd = r.below(4) as u8;
        g.open[usize::from(fd)] = true;
        return Action::Open { fd, mode: 2, nonblock: r.pct(20) };
    };
    match r.weighted(&w) {
        0 => {
            let fd = r.below(4) as u8;
            if g.open[usize::from(fd)] {
                return Action::Read { fd, style: ReadStyle::All };
            }
            let mode = match r.below(10) {
                0 => 0,
                1 => 1,
                _ => 2,
            };
            g.open[usize::from(fd)] = true;
            g.mode[usize::from(fd)] = mode;
            Action::Open { fd, mode, nonblock: r.pct(25) }
        }
        1 => {
            g.open[usize::from(fd)] = false;
            Action::Close { fd }
        }
        2 => Action::Fcntl { fd, nonblock: r.pct(50) },
        3 => {
            let req = gen_req(r, g, fd);
            let total_guess = 16 + req.payload.len() * 8;
            let mut cuts = Vec::new();
            if r.pct(20) && !req.payload.contains(&Seg::DomId) {
                let k = r.range(1, 3);
                for _ in 0..k {
                    cuts.push(r.range(1, total_guess.clamp(2, 40) as u64) as u16);
                }
                cuts.sort_unstable();
                cuts.dedup();
            }
            let extra = match r.below(20) {
                0 => Extra::Second,
                1 => Extra::Partial(r.range(1, 15) as u8),
                _ => Extra::None,
            };
            let repeat = if cuts.is_empty() && extra == Extra::None && r.pct(15) { r.range(1, 3) as u8 } else { 0 };
            Action::Request { fd, req, cuts, extra, repeat }
        }
        4 => {
            let kind = match r.below(4) {
                0 => RawKind::Zero,
                1 => RawKind::Oversize,
                2 => RawKind::Header {
                    // Types the node answers itself, or xenstored refuses
                    // before it looks at the payload.
                    ty: [4u32, 5, 7, 0x41414141, 99, 24][r.below(6) as usize],
                    len: r.below(12) as u16,
                    fill: [b'a', 0, b'T', b'/'][r.below(4) as usize],
                    tx: [0u32, 0xdead_0000 | r.below(0xffff) as u32][r.below(2) as usize],
                },
                _ => {
                    let n = r.range(1, 15) as usize;
                    RawKind::Fragment((0..n).map(|_| r.below(256) as u8).collect())
                }
            };
            Action::Raw { fd, kind }
        }
        5 => {
            let style = match r.below(10) {
                0..=4 => ReadStyle::All,
                5 => ReadStyle::Some(r.range(1, 3) as u8),
                6 | 7 => {
                    let k = r.range(1, 4) as usize;
                    ReadStyle::Raw(
                        (0..k).map(|_| [1u16, 3, 5, 7, 15, 16, 17, 20, 23, 40, 100][r.below(11) as usize]).collect(),
                    )
                }
                _ => ReadStyle::Empty([0u16, 1, 16, 4096][r.below(4) as usize]),
            };
            Action::Read { fd, style }
        }
        6 => {
            let k = r.range(1, 3) as usize;
            let mut fds: Vec<u8> = (0..k).map(|_| r.below(4) as u8).collect();
            fds.sort_unstable();
            fds.dedup();
            let events = [0x001u16, 0x041, 0x005, 0x004, 0x003, 0x3ff][r.below(6) as usize];
            Action::Poll { fds, events }
        }
        7 => Action::Dom0 {
            op: r.weighted(&[5, 2, 1]) as u8,
            sub: r.below(SUBS.len() as u64) as u8,
            value: r.below(6) as u8,
        },
        _ => Action::Sleep { ms: [10u16, 50, 100][r.below(3) as usize] },
    }
}

fn gen_path(r: &mut Rng, for_watch: bool) -> PathSel {
    gen_path_in(r, for_watch, true)
}

/// A path; `missing` allows the `nx/` paths nothing creates (not for
/// requests that create nodes).
fn gen_path_in(r: &mut Rng, for_watch: bool, missing: bool) -> PathSel {
    match r.below(20) {
        0..=9 => PathSel::Rel(r.below(SUBS.len() as u64) as u8),
        10..=12 => PathSel::Abs(r.below(SUBS.len() as u64) as u8),
        13 | 14 if missing => PathSel::Missing(r.below(3) as u8),
        13 | 14 => PathSel::Rel(r.below(SUBS.len() as u64) as u8),
        _ => {
            let odd = [
                OddPath::Empty,
                OddPath::TrailingSlash,
                OddPath::DoubleSlash,
                OddPath::Dot,
                OddPath::Blank,
                OddPath::HighByte,
                OddPath::LongComponent,
                OddPath::TooLong,
                OddPath::Release,
                OddPath::Introduce,
                OddPath::OtherSpecial,
                OddPath::Root,
            ];
            let n = if for_watch { odd.len() - 1 } else { odd.len() };
            PathSel::Odd(odd[r.below(n as u64) as usize])
        }
    }
}

fn gen_token(r: &mut Rng) -> Vec<u8> {
    match r.below(8) {
        0 => Vec::new(),
        1 => (0..r.range(1, 6)).map(|_| r.range(1, 255) as u8).collect(),
        2 => vec![b'k'; r.range(100, 600) as usize],
        _ => format!("tok{}", r.below(4)).into_bytes(),
    }
}

fn gen_value(r: &mut Rng) -> Vec<Seg> {
    match r.below(12) {
        0 => Vec::new(),
        1 => vec![Seg::Run(b'v', [100u16, 2000, 2048, 2049][r.below(4) as usize])],
        2 => vec![Seg::Lit((0..r.range(1, 8)).map(|_| r.below(256) as u8).collect())],
        _ => vec![Seg::Lit(format!("v{}", r.below(10)).into_bytes())],
    }
}

fn gen_tx(r: &mut Rng, g: &GenState) -> TxRef {
    if g.slots > 0 && r.pct(45) {
        return TxRef::Slot(r.below(u64::from(g.slots)) as u8);
    }
    if r.pct(8) {
        return TxRef::Lit([0xbeefu32, 0xdead_beef, 0x7fff_fff0][r.below(3) as usize]);
    }
    TxRef::Zero
}

fn gen_req(r: &mut Rng, g: &mut GenState, fd: u8) -> Req {
    let weights: Vec<u32> = TYPES.iter().map(|t| t.1).collect();
    let ty = TYPES[r.weighted(&weights)].0;
    let req = match r.below(40) {
        0 => ReqSel::Zero,
        1 => ReqSel::Max,
        _ => ReqSel::Auto,
    };
    let nul = || Seg::Lit(vec![0]);
    let mut tx = gen_tx(r, g);
    let mut payload: Vec<Seg>;
    match ty {
        names::TRANSACTION_START => {
            tx = if r.pct(85) { TxRef::Zero } else { gen_tx(r, g) };
            payload = if r.pct(80) { vec![nul()] } else { Vec::new() };
            if tx == TxRef::Zero {
                g.slots = g.slots.saturating_add(1).min(6);
            }
        }
        7 => {
            if g.slots > 0 && r.pct(85) {
                tx = TxRef::Slot(r.below(u64::from(g.slots)) as u8);
            } else if tx == TxRef::Zero {
                tx = TxRef::Lit(0xdead);
            }
            let p: &[u8] = match r.below(12) {
                0 => b"X\0",
                1 => b"T",
                2 => b"",
                3 => b"T\0\0",
                4 => b"t\0",
                5..=7 => b"F\0",
                _ => b"T\0",
            };
            payload = vec![Seg::Lit(p.to_vec())];
        }
        names::WATCH | names::UNWATCH => {
            let (path, token) = if ty == names::UNWATCH && !g.watches.is_empty() && r.pct(70) {
                let i = r.below(g.watches.len() as u64) as usize;
                let (_, p, t) = g.watches[i].clone();
                (p, t)
            } else {
                (gen_path(r, true), gen_token(r))
            };
            if ty == names::WATCH {
                g.watches.push((fd, path.clone(), token.clone()));
            }
            payload = vec![Seg::Path(path), nul(), Seg::Lit(token)];
            match r.below(12) {
                0 => {
                    // No NUL after the token.
                }
                1 => {
                    // No NUL at all.
                    payload.truncate(1);
                }
                2 => {
                    payload.push(nul());
                    payload.push(Seg::Lit(b"3\0".to_vec()));
                }
                _ => payload.push(nul()),
            }
        }
        names::WRITE => {
            payload = vec![Seg::Path(gen_path_in(r, false, false)), nul()];
            payload.extend(gen_value(r));
            if r.pct(5) {
                // Exactly the largest payload the node takes.
                payload = vec![Seg::Path(PathSel::Rel(1)), nul(), Seg::Run(b'm', 4080)];
            }
        }
        14 => {
            payload = vec![Seg::Path(gen_path_in(r, false, false)), nul()];
            match r.below(5) {
                0 => payload.extend([Seg::Lit(b"n".to_vec()), Seg::DomId, nul()]),
                1 => payload.push(Seg::Lit(b"n0\0".to_vec())),
                2 => payload.push(Seg::Lit(b"x\0".to_vec())),
                3 => {}
                _ => payload.push(Seg::Lit(b"n\0".to_vec())),
            }
        }
        10 => {
            payload = match r.below(6) {
                0 => vec![Seg::DomId, nul()],
                1 => vec![Seg::Lit(b"x\0".to_vec())],
                2 => vec![Seg::Lit(b"12345\0".to_vec())],
                3 => Vec::new(),
                _ => vec![Seg::Lit(b"0\0".to_vec())],
            };
        }
        22 => {
            let p = match r.below(3) {
                0 => PathSel::Missing(0),
                1 => PathSel::Odd(OddPath::DoubleSlash),
                _ => PathSel::Odd(OddPath::Empty),
            };
            payload = vec![Seg::Path(p), nul(), Seg::Lit(b"0\0".to_vec())];
        }
        3 => {
            // Own nodes' perms name the domain: transcripts print it as
            // <$domid>, so any path will do.
            payload = vec![Seg::Path(gen_path(r, false)), nul()];
        }
        names::READ | 1 | 12 | names::RM => {
            // Exactly one string: C xenstored 4.17 can exit on a payload
            // that is not (observed with "path\0junk" for RM).
            payload = vec![Seg::Path(gen_path_in(r, false, ty != 12)), nul()];
        }
        _ => {
            payload = match r.below(3) {
                0 => Vec::new(),
                1 => vec![Seg::Path(PathSel::Rel(1)), nul()],
                _ => vec![Seg::Lit((0..r.range(1, 12)).map(|_| r.below(256) as u8).collect())],
            };
        }
    }
    // A lie that changes what reaches xenstored is only made for WRITE (the
    // value absorbs it); for the rest only a header that is too long (the
    // node refuses it before anything is sent).
    let lie_ok = ty == names::WRITE && r.pct(50);
    let lie = if payload.contains(&Seg::DomId) {
        None
    } else if !lie_ok {
        if r.below(30) == 0 {
            Some(Lie::Huge([4081u32, 5000, 0xffff_fff0][r.below(3) as usize]))
        } else {
            None
        }
    } else {
        match r.below(30) {
            0 => Some(Lie::Long { n: r.range(1, 10) as u16, fill: r.pct(50) }),
            1 => {
                // Only what the value can lose: the path's NUL stays.
                let tail: usize = payload
                    .iter()
                    .rev()
                    .take_while(|s| !matches!(s, Seg::Lit(b) if b.contains(&0)))
                    .map(|s| match s {
                        Seg::Lit(b) => b.len(),
                        Seg::Run(_, n) => usize::from(*n),
                        _ => 0,
                    })
                    .sum();
                if tail >= 3 {
                    Some(Lie::Short(r.range(1, 3) as u16))
                } else {
                    None
                }
            }
            2 => Some(Lie::Huge([4081u32, 5000, 0xffff_fff0][r.below(3) as usize])),
            _ => None,
        }
    };
    Req { ty, req, tx, payload, lie }
}

// ---------------------------------------------------------------------------
// Rendering

/// A modelled byte of the device's partial buffer: a known byte, or byte
/// `i` of transaction `slot`'s id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum B {
    C(u8),
    Tx(u8, u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PendKind {
    /// Any reply, named by req_id.
    Any,
    /// The START reply of a transaction (binds `$t<slot>`).
    Start(u8),
    /// The END reply of a transaction (the id is gone once read).
    End(u8),
}

#[derive(Clone, Debug)]
struct Pend {
    req: u32,
    forwarded: bool,
    kind: PendKind,
    /// Bytes of the whole reply, when known (synthetic ENOENT/EINVAL: 23).
    len: Option<usize>,
    /// The reply may name the domain (GET_PERMS, GET_DOMAIN_PATH): only
    /// whole-message reads print that canonically, so no raw reads.
    names_domain: bool,
    /// A forwarded request's payload (`None`: not modelled). Linux sends it
    /// from the descriptor's write buffer some time after write()
    /// returned, so until the reply is read the buffer must keep it.
    payload: Option<Vec<u8>>,
}

#[derive(Clone, Debug, Default)]
struct FdM {
    open: bool,
    mode: u8,
    nonblock: bool,
    /// Wrote WATCH or UNWATCH: events may arrive.
    watch: bool,
    buf: Vec<B>,
    pending: Vec<Pend>,
    /// Change counter when last drained (watch descriptors).
    drained: u64,
    /// A forwarded reply precedes a synthetic one in `pending`.
    racy: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxState {
    /// START written, reply not read.
    Starting,
    /// Bound, usable.
    Live,
    /// END in flight.
    Ending,
    /// Ended, aborted (owner closed) or never bound.
    Gone,
}

#[derive(Clone, Debug)]
struct Slot {
    owner: u8,
    state: TxState,
    /// The variable was bound by a read.
    bound: bool,
}

struct Renderer<'a> {
    g: &'a Generated,
    dir: String,
    lines: Vec<String>,
    fds: [FdM; 4],
    slots: Vec<Slot>,
    next_req: u32,
    req_base: u32,
    used_zero: bool,
    used_max: bool,
    /// Counts changes that may fire watches.
    epoch: u64,
    lets: u32,
    /// The barrier descriptor is open.
    barrier_open: bool,
}

/// Bytes as a scenario string literal.
fn lit(b: &[u8]) -> String {
    crate::lex::quote(b)
}

fn type_text(ty: u32) -> String {
    match names::type_name(ty) {
        Some(n) if ty != 20 && ty < 23 => String::from(n),
        _ => format!("{ty:#x}"),
    }
}

fn le(v: u32) -> [B; 4] {
    let b = v.to_le_bytes();
    [B::C(b[0]), B::C(b[1]), B::C(b[2]), B::C(b[3])]
}

/// A rendered request: its text (terms), its modelled bytes (`None` when a
/// piece's length is not known, i.e. `$domid`), its req_id.
struct Msg {
    terms: String,
    bytes: Option<Vec<B>>,
    req: u32,
}

impl<'a> Renderer<'a> {
    fn new(g: &'a Generated) -> Self {
        let name = g.name();
        let h = scenario_seed(g.seed, g.index);
        Self {
            g,
            dir: format!("data/conf/{name}"),
            lines: Vec::new(),
            fds: Default::default(),
            slots: Vec::new(),
            next_req: 1,
            req_base: 0x4000_0000 | (((h >> 20) as u32 & 0x3f_ffff) << 8),
            used_zero: false,
            used_max: false,
            epoch: 0,
            lets: 0,
            barrier_open: false,
        }
    }

    fn fd(&self, i: u8) -> &FdM {
        &self.fds[usize::from(i) % 4]
    }

    fn fdm(&mut self, i: u8) -> &mut FdM {
        &mut self.fds[usize::from(i) % 4]
    }

    fn name(i: u8) -> &'static str {
        FD_NAMES[usize::from(i) % 4]
    }

    fn line(&mut self, s: String) {
        self.lines.push(s);
    }

    fn new_req(&mut self, sel: ReqSel) -> u32 {
        match sel {
            ReqSel::Zero if !self.used_zero => {
                self.used_zero = true;
                0
            }
            ReqSel::Max if !self.used_max => {
                self.used_max = true;
                u32::MAX
            }
            _ => {
                let r = self.req_base | (self.next_req & 0xff);
                self.next_req += 1;
                r
            }
        }
    }

    /// Path pieces as terms and bytes (`None` for `$domid`).
    fn path(&self, p: &PathSel) -> (String, Option<Vec<u8>>) {
        let sub = |i: u8| SUBS[usize::from(i) % SUBS.len()];
        let rel = |i: u8| {
            let s = sub(i);
            if s.is_empty() {
                self.dir.clone()
            } else {
                format!("{}/{}", self.dir, s)
            }
        };
        match p {
            PathSel::Rel(i) => {
                let s = rel(*i);
                (lit(s.as_bytes()), Some(s.into_bytes()))
            }
            PathSel::Abs(i) => (format!("\"/local/domain/\" $domid {}", lit(format!("/{}", rel(*i)).as_bytes())), None),
            PathSel::Missing(i) => {
                let s = format!("{}/nx/{}", self.dir, ["q", "q/r", "zz"][usize::from(*i) % 3]);
                (lit(s.as_bytes()), Some(s.into_bytes()))
            }
            PathSel::Odd(o) => {
                let s: Vec<u8> = match o {
                    OddPath::Empty => Vec::new(),
                    OddPath::TrailingSlash => format!("{}/a/", self.dir).into_bytes(),
                    OddPath::DoubleSlash => format!("{}//a", self.dir).into_bytes(),
                    OddPath::Dot => format!("{}/./a", self.dir).into_bytes(),
                    OddPath::Blank => format!("{}/a b", self.dir).into_bytes(),
                    OddPath::HighByte => {
                        let mut v = format!("{}/", self.dir).into_bytes();
                        v.push(0xe9);
                        v
                    }
                    OddPath::LongComponent => {
                        let s = format!("{}/{}", self.dir, "L".repeat(300));
                        return (
                            format!("{} rep(300, \"L\")", lit(format!("{}/", self.dir).as_bytes())),
                            Some(s.into_bytes()),
                        );
                    }
                    OddPath::TooLong => {
                        let s = format!("{}/{}x", self.dir, "l/".repeat(1100));
                        return (
                            format!("{} rep(1100, \"l/\") \"x\"", lit(format!("{}/", self.dir).as_bytes())),
                            Some(s.into_bytes()),
                        );
                    }
                    OddPath::Release => b"@releaseDomain".to_vec(),
                    OddPath::Introduce => b"@introduceDomain".to_vec(),
                    OddPath::OtherSpecial => b"@notAnEvent".to_vec(),
                    OddPath::Root => b"/".to_vec(),
                };
                (lit(&s), Some(s))
            }
        }
    }

    fn payload(&self, segs: &[Seg]) -> (String, Option<Vec<u8>>) {
        let mut terms: Vec<String> = Vec::new();
        let mut bytes = Some(Vec::new());
        for s in segs {
            match s {
                Seg::Path(p) => {
                    let (t, b) = self.path(p);
                    terms.push(t);
                    match (b, bytes.as_mut()) {
                        (Some(b), Some(acc)) => acc.extend_from_slice(&b),
                        _ => bytes = None,
                    }
                }
                Seg::Lit(b) => {
                    terms.push(lit(b));
                    if let Some(acc) = bytes.as_mut() {
                        acc.extend_from_slice(b);
                    }
                }
                Seg::Run(c, n) => {
                    terms.push(format!("rep({n}, {})", lit(&[*c])));
                    if let Some(acc) = bytes.as_mut() {
                        acc.extend(core::iter::repeat_n(*c, usize::from(*n)));
                    }
                }
                Seg::DomId => {
                    terms.push(String::from("$domid"));
                    bytes = None;
                }
            }
        }
        // Merge adjacent quoted pieces for readability.
        let mut merged: Vec<String> = Vec::new();
        for t in terms {
            if let Some(last) = merged.last_mut() {
                if last.ends_with('"') && t.starts_with('"') {
                    last.pop();
                    last.push_str(t.get(1..).unwrap_or(""));
                    continue;
                }
            }
            merged.push(t);
        }
        (merged.join(" "), bytes)
    }

    /// The `tx_id` of a request as text and modelled bytes; `None` when it
    /// names a transaction whose id was never bound.
    fn tx(&self, t: &TxRef) -> Option<(String, [B; 4])> {
        match t {
            TxRef::Zero => Some((String::from("0"), le(0))),
            TxRef::Lit(v) => Some((format!("{v:#x}"), le(*v))),
            TxRef::Slot(k) => {
                let s = self.slots.get(usize::from(*k))?;
                if !s.bound {
                    return None;
                }
                Some((format!("$t{k}"), [B::Tx(*k, 0), B::Tx(*k, 1), B::Tx(*k, 2), B::Tx(*k, 3)]))
            }
        }
    }

    /// Renders a request's message: `msg(...)` text and bytes.
    fn msg(&mut self, req: &Req) -> Option<Msg> {
        let (tx_text, tx_bytes) = self.tx(&req.tx)?;
        let (pterms, pbytes) = self.payload(&req.payload);
        let r = self.new_req(req.req);
        let plen = pbytes.as_ref().map(Vec::len);
        // A payload whose length is not known here (`$domid`) only gets a
        // `len` that is too large whatever the digits (E2BIG).
        let lie = match (req.lie, plen) {
            (Some(Lie::Huge(v)), _) => Some(Lie::Huge(v)),
            (l, Some(_)) => l,
            (_, None) => None,
        };
        let len = match (lie, plen) {
            (Some(Lie::Long { n, .. }), Some(p)) => Some(p as u32 + u32::from(n)),
            (Some(Lie::Short(n)), Some(p)) => Some((p as u32).saturating_sub(u32::from(n))),
            (Some(Lie::Huge(v)), _) => Some(v),
            _ => None,
        };
        let mut terms = format!("msg({}, {:#x}, {}", type_text(req.ty), r, tx_text);
        if !pterms.is_empty() {
            terms.push_str(", ");
            terms.push_str(&pterms);
        }
        if let Some(l) = len {
            terms.push_str(&format!(", len={l}"));
        }
        terms.push(')');
        let bytes = pbytes.map(|p| {
            let mut v: Vec<B> = Vec::new();
            v.extend(le(req.ty));
            v.extend(le(r));
            v.extend(tx_bytes);
            v.extend(le(len.unwrap_or(p.len() as u32)));
            v.extend(p.iter().map(|&c| B::C(c)));
            v
        });
        Some(Msg { terms, bytes, req: r })
    }

    fn concrete_u32(b: &[B]) -> Option<u32> {
        let mut w = [0u8; 4];
        for (i, x) in b.iter().take(4).enumerate() {
            match x {
                B::C(c) => w[i] = *c,
                B::Tx(..) => return None,
            }
        }
        Some(u32::from_le_bytes(w))
    }

    /// The device's write path on modelled bytes; dispatches a completed
    /// message.
    fn device_write(&mut self, fd: u8, chunk: &[B]) {
        let m = self.fdm(fd);
        if m.mode == 0 {
            return; // EBADF
        }
        let n = chunk.len();
        if n == 0 {
            return;
        }
        if n > 4096usize.saturating_sub(m.buf.len()) {
            m.buf.clear();
            return;
        }
        m.buf.extend_from_slice(chunk);
        if m.buf.len() < 16 {
            return;
        }
        let Some(len) = Self::concrete_u32(m.buf.get(12..16).unwrap_or(&[])) else {
            m.buf.clear();
            return;
        };
        if 16u64 + u64::from(len) > 4096 {
            m.buf.clear();
            return;
        }
        let total = 16 + len as usize;
        if m.buf.len() < total {
            return;
        }
        let msg: Vec<B> = m.buf.get(..total).unwrap_or(&[]).to_vec();
        m.buf.clear();
        self.dispatch_bytes(fd, &msg);
    }

    fn dispatch_bytes(&mut self, fd: u8, msg: &[B]) {
        let ty = Self::concrete_u32(msg.get(0..4).unwrap_or(&[]));
        let req = Self::concrete_u32(msg.get(4..8).unwrap_or(&[])).unwrap_or(0);
        let txb = msg.get(8..12).unwrap_or(&[]);
        let tx = if let Some(v) = Self::concrete_u32(txb) {
            TxRef::Lit(v)
        } else {
            match txb.first() {
                Some(B::Tx(k, 0)) if txb.iter().enumerate().all(|(i, b)| *b == B::Tx(*k, i as u8)) => TxRef::Slot(*k),
                _ => TxRef::Lit(0xffff_fffe),
            }
        };
        let tx = if tx == TxRef::Lit(0) { TxRef::Zero } else { tx };
        let payload: Vec<u8> =
            msg.get(16..).unwrap_or(&[]).iter().map(|b| if let B::C(c) = b { *c } else { b'?' }).collect();
        match ty {
            Some(t) => self.dispatch(fd, t, req, &tx, Some(&payload)),
            None => {
                // A type made of id bytes: cannot happen with aligned writes.
                self.dispatch(fd, 0xffff_fffe, req, &tx, Some(&payload));
            }
        }
    }

    fn owned(&self, fd: u8, tx: &TxRef) -> bool {
        match tx {
            TxRef::Slot(k) => self
                .slots
                .get(usize::from(*k))
                .is_some_and(|s| s.owner == fd && matches!(s.state, TxState::Live | TxState::Ending)),
            _ => false,
        }
    }

    /// True if writing bytes that give the buffer this image (from offset
    /// 0; `None`: a byte not known here) would change the payload of a
    /// forwarded request of the descriptor whose reply was not read yet.
    /// Linux 6.1 sends that payload from the buffer after write() returned
    /// (`xenbus_dev_request_and_reply` points the request at it), so the
    /// change can reach xenstored: a race the generator stays out of.
    fn conflicts(&self, fd: u8, image: &[(usize, Option<u8>)]) -> bool {
        self.fd(fd).pending.iter().filter(|p| p.forwarded).any(|p| {
            image.iter().any(|&(pos, byte)| {
                pos >= 16
                    && match &p.payload {
                        None => true,
                        Some(pb) => pb.get(pos - 16).is_some_and(|&x| Some(x) != byte),
                    }
            })
        })
    }

    /// Makes room for a write with this image: reads the descriptor's
    /// pending replies if the write would race (false: it cannot be made
    /// safe, the write must be left out).
    fn make_room(&mut self, fd: u8, image: &[(usize, Option<u8>)]) -> bool {
        if !self.conflicts(fd, image) {
            return true;
        }
        if self.fd(fd).mode != 2 {
            return false;
        }
        self.read_pending(fd);
        !self.conflicts(fd, image)
    }

    fn push_pend(&mut self, fd: u8, p: Pend) {
        let m = self.fdm(fd);
        if !p.forwarded && m.pending.iter().any(|x| x.forwarded) {
            m.racy = true;
        }
        m.pending.push(p);
    }

    /// What the node does with a complete message (`payload` `None`: not
    /// modelled, assumed well formed).
    fn dispatch(&mut self, fd: u8, ty: u32, req: u32, tx: &TxRef, payload: Option<&[u8]>) {
        let synth = |req| Pend {
            req,
            forwarded: false,
            kind: PendKind::Any,
            len: Some(23),
            names_domain: false,
            payload: None,
        };
        if ty == names::WATCH || ty == names::UNWATCH {
            self.fdm(fd).watch = true;
            let well_formed = match payload {
                None => true,
                Some(p) => {
                    let mut parts = p.splitn(3, |&c| c == 0);
                    let _path = parts.next();
                    let token = parts.next();
                    // A NUL after the path and one after the token.
                    p.iter().filter(|&&c| c == 0).count() >= 2 && token.is_some()
                }
            };
            if !well_formed {
                self.push_pend(fd, synth(req));
            } else if ty == names::UNWATCH {
                self.push_pend(
                    fd,
                    Pend {
                        req,
                        forwarded: false,
                        kind: PendKind::Any,
                        len: Some(19),
                        names_domain: false,
                        payload: None,
                    },
                );
            } else {
                // OK and the initial event, or an errno and nothing: read
                // with `read all`, which takes either.
                self.epoch += 1;
            }
            return;
        }
        if ty != names::TRANSACTION_START && *tx != TxRef::Zero && !self.owned(fd, tx) {
            self.push_pend(fd, synth(req));
            return;
        }
        if ty == 7 && payload.is_some_and(|p| p != b"T\0" && p != b"F\0") {
            self.push_pend(fd, synth(req));
            return;
        }
        // Forwarded.
        let mut kind = PendKind::Any;
        if ty == names::TRANSACTION_START && *tx == TxRef::Zero {
            let k = self.slots.len() as u8;
            self.slots.push(Slot { owner: fd, state: TxState::Starting, bound: false });
            kind = PendKind::Start(k);
        }
        if ty == 7 {
            if let TxRef::Slot(k) = tx {
                if let Some(s) = self.slots.get_mut(usize::from(*k)) {
                    s.state = TxState::Ending;
                }
                kind = PendKind::End(*k);
            }
        }
        if matches!(ty, 7 | 11 | 12 | 13 | 14) {
            self.epoch += 1;
        }
        let names_domain = matches!(ty, 3 | 10);
        self.push_pend(
            fd,
            Pend { req, forwarded: true, kind, len: None, names_domain, payload: payload.map(<[u8]>::to_vec) },
        );
    }

    fn pattern(&self, p: &Pend) -> String {
        match p.kind {
            PendKind::Start(k) => format!("msg(TRANSACTION_START, {:#x}, 0, $t{k} \"\\0\")", p.req),
            _ => format!("msg(_, {:#x}, _, _)", p.req),
        }
    }

    /// True if a message of this type, id and payload length would be
    /// forwarded to xenstored with an empty payload. Not generated: C
    /// xenstored 4.17 exits when the message that follows an XS_WATCH on a
    /// domain's connection has no payload (observed), and every host has
    /// watches.
    fn forwards_empty(&self, fd: u8, ty: u32, tx: &TxRef, payload_len: usize) -> bool {
        payload_len == 0
            && ty != names::WATCH
            && ty != names::UNWATCH
            && ty != 7
            && (ty == names::TRANSACTION_START || *tx == TxRef::Zero || self.owned(fd, tx))
    }

    /// Records that these pending replies were read.
    fn consumed(&mut self, fd: u8, n: usize) {
        let taken: Vec<Pend> = {
            let m = self.fdm(fd);
            let n = n.min(m.pending.len());
            m.pending.drain(..n).collect()
        };
        for p in taken {
            match p.kind {
                PendKind::Start(k) => {
                    if let Some(s) = self.slots.get_mut(usize::from(k)) {
                        s.bound = true;
                        if s.state == TxState::Starting {
                            s.state = TxState::Live;
                        }
                    }
                }
                PendKind::End(k) => {
                    if let Some(s) = self.slots.get_mut(usize::from(k)) {
                        s.state = TxState::Gone;
                    }
                }
                PendKind::Any => {}
            }
        }
        let m = self.fdm(fd);
        if m.pending.iter().all(|p| p.forwarded) || m.pending.is_empty() {
            m.racy = false;
        }
    }

    /// Discards a partial message in the device buffer (a 4097-byte write).
    fn resync(&mut self, fd: u8) {
        if !self.fd(fd).buf.is_empty() {
            self.line(format!("write {} rep(4097, \"z\")", Self::name(fd)));
            self.fdm(fd).buf.clear();
        }
    }

    /// Reads everything pending on a descriptor (and, for a watch
    /// descriptor, the events after a barrier request).
    fn read_pending(&mut self, fd: u8) {
        let m = self.fd(fd).clone();
        if !m.open || m.mode == 1 {
            return;
        }
        if m.watch {
            self.drain(fd);
            return;
        }
        if m.pending.is_empty() {
            return;
        }
        let pats: Vec<String> = m.pending.iter().map(|p| self.pattern(p)).collect();
        let n = m.pending.len();
        let name = Self::name(fd);
        if n == 1 {
            self.line(format!("read {name} {}", pats.join("")));
        } else if m.racy {
            self.line(format!("read {name} unordered {{ {} }}", pats.join(" ; ")));
        } else {
            for p in &pats {
                self.line(format!("read {name} {p}"));
            }
        }
        self.consumed(fd, n);
    }

    /// `read <fd> all` after a barrier request. The barrier is a READ of a
    /// node that never exists, on a descriptor of its own (`Z`, opened on
    /// first use), read at once: when its reply has come, xenstored has
    /// handled every request written before it, on every descriptor, and
    /// sent the events they caused; the quiet time of `read all` covers the
    /// guest's own delivery. (Not on the watch descriptor itself: a
    /// pipelined request there would race with the payloads still to be
    /// sent, and a barrier without payload can stop xenstored, see
    /// [`Renderer::forwards_empty`].)
    fn drain(&mut self, fd: u8) {
        let m = self.fd(fd).clone();
        if !m.open || m.mode != 2 {
            return;
        }
        if !self.barrier_open {
            self.line(format!("open {BARRIER_FD}"));
            self.barrier_open = true;
        }
        let b = self.new_req(ReqSel::Auto);
        let dir = self.dir.clone();
        self.line(format!(
            "write {BARRIER_FD} msg(READ, {b:#x}, 0, {})",
            lit(format!("{dir}/nx/barrier\0").as_bytes())
        ));
        self.line(format!("read {BARRIER_FD} msg(_, {b:#x}, _, _)"));
        let name = Self::name(fd);
        let pats: Vec<String> = m.pending.iter().map(|p| self.pattern(p)).collect();
        let quiet = self.g.cfg.quiet_ms;
        let q = if quiet == crate::scenario::DEFAULT_QUIET_MS { String::new() } else { format!(" quiet={quiet}") };
        if pats.is_empty() {
            self.line(format!("read {name} all{q}"));
        } else {
            self.line(format!("read {name} all {{ {} }}{q}", pats.join(" ; ")));
        }
        let n = m.pending.len();
        self.consumed(fd, n);
        let e = self.epoch;
        self.fdm(fd).drained = e;
    }

    /// Empty: nothing pending and (not a watch descriptor, or drained and
    /// nothing changed since).
    fn known_empty(&self, fd: u8) -> bool {
        let m = self.fd(fd);
        m.open && m.pending.is_empty() && (!m.watch || m.drained == self.epoch)
    }

    /// Everything pending is a synthetic reply already queued.
    fn known_queued(&self, fd: u8) -> Option<usize> {
        let m = self.fd(fd);
        if !m.open || m.watch || m.pending.is_empty() || m.pending.iter().any(|p| p.forwarded) {
            return None;
        }
        m.pending.iter().map(|p| p.len).sum()
    }

    fn render_action(&mut self, a: &Action) {
        match a {
            Action::Open { fd, mode, nonblock } => {
                if self.fd(*fd).open {
                    return;
                }
                let mut flags = String::from(["RDONLY", "WRONLY", "RDWR"][usize::from(*mode).min(2)]);
                if *nonblock {
                    flags.push_str("|NONBLOCK");
                }
                let text = if *mode == 2 && !*nonblock { String::new() } else { format!(" {flags}") };
                self.line(format!("open {}{text}", Self::name(*fd)));
                *self.fdm(*fd) = FdM {
                    open: true,
                    mode: (*mode).min(2),
                    nonblock: *nonblock,
                    drained: self.epoch,
                    ..Default::default()
                };
            }
            Action::Close { fd } => {
                if !self.fd(*fd).open {
                    return;
                }
                self.line(format!("close {}", Self::name(*fd)));
                let inflight = self.fd(*fd).pending.iter().any(|p| p.forwarded);
                for s in self.slots.iter_mut() {
                    if s.owner == *fd && s.state != TxState::Gone {
                        s.state = TxState::Gone;
                    }
                }
                if inflight {
                    self.epoch += 1;
                }
                *self.fdm(*fd) = FdM::default();
            }
            Action::Fcntl { fd, nonblock } => {
                if !self.fd(*fd).open {
                    return;
                }
                self.line(format!("fcntl {} {}", Self::name(*fd), if *nonblock { "nonblock" } else { "block" }));
                self.fdm(*fd).nonblock = *nonblock;
            }
            Action::Request { fd, req, cuts, extra, repeat } => {
                self.request(*fd, req, cuts, extra);
                if cuts.is_empty() && *extra == Extra::None {
                    for _ in 0..*repeat {
                        self.request(*fd, req, &[], &Extra::None);
                    }
                }
            }
            Action::Raw { fd, kind } => self.raw(*fd, kind),
            Action::Read { fd, style } => self.read(*fd, style),
            Action::Poll { fds, events } => self.poll(fds, *events),
            Action::Dom0 { op, sub, value } => {
                let s = SUBS[usize::from(*sub) % SUBS.len()];
                let path = if s.is_empty() { self.dir.clone() } else { format!("{}/{s}", self.dir) };
                let line = match op {
                    0 => {
                        let v = if *value == 0 { String::from("\"\"") } else { format!("w{value}") };
                        format!("dom0 write {path} {v}")
                    }
                    1 => {
                        if s.is_empty() {
                            // Removing the whole directory: fine, it is re-created by writes.
                        }
                        format!("dom0 rm {path}")
                    }
                    _ => format!("dom0 mkdir {path}"),
                };
                self.line(line);
                self.epoch += 1;
            }
            Action::Sleep { ms } => self.line(format!("sleep {ms}")),
        }
    }

    fn request(&mut self, fd: u8, req: &Req, cuts: &[u16], extra: &Extra) {
        let m = self.fd(fd).clone();
        if !m.open {
            return;
        }
        // The transaction must be usable: its START reply read (bind), and
        // on its owner not while END is in flight.
        if let TxRef::Slot(k) = &req.tx {
            let Some(s) = self.slots.get(usize::from(*k)).cloned() else { return };
            if !s.bound {
                if s.state == TxState::Starting && self.fd(s.owner).open && self.fd(s.owner).mode == 2 {
                    self.read_pending(s.owner);
                }
                if !self.slots.get(usize::from(*k)).is_some_and(|s| s.bound) {
                    return;
                }
            }
            let s = self.slots.get(usize::from(*k)).cloned();
            if let Some(s) = s {
                if s.state == TxState::Ending {
                    if s.owner == fd || req.ty == 7 {
                        // Wait for the END reply (a second END in flight is
                        // a listed deviation; a request on the owner would
                        // race with the holder's removal).
                        self.read_pending(s.owner);
                    }
                    if self.slots.get(usize::from(*k)).is_some_and(|s| s.state == TxState::Ending) {
                        return;
                    }
                }
            }
        }
        if req.ty == 7 && req.tx == TxRef::Zero {
            return; // listed deviation (xenbus-abi.md 9.3)
        }
        let is_watch = req.ty == names::WATCH || req.ty == names::UNWATCH;
        if is_watch {
            if m.mode != 2 {
                return;
            }
            // UNWATCH drops the watch's events not yet queued (Linux: the
            // xenwatch thread may not have delivered them): read them first.
            if req.ty == names::UNWATCH && m.watch && !self.known_empty(fd) {
                self.drain(fd);
            }
            if m.pending.iter().any(|p| p.forwarded) {
                self.read_pending(fd);
            }
            if self.fd(fd).pending.iter().any(|p| p.forwarded) {
                return;
            }
            // A watch on a path whose events come from the harness's own
            // traffic would make the transcript depend on timing.
            if req.payload.first() == Some(&Seg::Path(PathSel::Odd(OddPath::Root))) {
                return;
            }
        }
        // Keep the queue far below the node's bound (a listed deviation).
        if self.fd(fd).pending.len() >= 12 && m.mode == 2 {
            self.read_pending(fd);
        }
        self.resync(fd);
        // The length the header will say (a lie may make it 0).
        let (_, pbytes) = self.payload(&req.payload);
        let said = match (req.lie, pbytes.as_ref().map(Vec::len)) {
            (Some(Lie::Long { n, .. }), Some(p)) => p + usize::from(n),
            (Some(Lie::Short(n)), Some(p)) => p.saturating_sub(usize::from(n)),
            (Some(Lie::Huge(_)), _) => 5000,
            (_, Some(p)) => p,
            (_, None) => 1,
        };
        if self.forwards_empty(fd, req.ty, &req.tx, said) {
            return;
        }
        let Some(msg) = self.msg(req) else { return };
        let name = Self::name(fd);
        let second = match extra {
            Extra::None => None,
            _ => {
                let r2 = Req {
                    ty: names::READ,
                    req: ReqSel::Auto,
                    tx: TxRef::Zero,
                    payload: vec![Seg::Path(PathSel::Rel(1)), Seg::Lit(vec![0])],
                    lie: None,
                };
                self.msg(&r2)
            }
        };
        let Some(b) = msg.bytes.clone() else {
            // Not modelled byte by byte ($domid): written whole, from an
            // empty buffer.
            let image: Vec<(usize, Option<u8>)> =
                (0..if req.payload.is_empty() { 16 } else { 17 }).map(|i| (i, None)).collect();
            if !self.make_room(fd, &image) {
                return;
            }
            self.line(format!("write {name} {}", msg.terms));
            if m.mode != 0 && !matches!(req.lie, Some(Lie::Huge(_))) {
                self.dispatch(fd, req.ty, msg.req, &req.tx.clone(), None);
            }
            return;
        };
        // The writes: (text, bytes).
        let mut writes: Vec<(String, Vec<B>)> = Vec::new();
        let total = b.len();
        let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c)).filter(|&c| c > 0 && c < total).collect();
        points.sort_unstable();
        points.dedup();
        let split = !points.is_empty() || second.is_some();
        let l = if split {
            self.lets += 1;
            format!("m{}", self.lets)
        } else {
            String::new()
        };
        let mut start = 0;
        for p in points {
            writes.push((format!("{l}[{start}..{p}]"), b.get(start..p).unwrap_or(&[]).to_vec()));
            start = p;
        }
        let mut tail_terms = if !split {
            msg.terms.clone()
        } else if start == 0 {
            l.clone()
        } else {
            format!("{l}[{start}..]")
        };
        let mut chunk: Vec<B> = b.get(start..).unwrap_or(&[]).to_vec();
        if let Some(s) = &second {
            let sb = s.bytes.clone().unwrap_or_default();
            match extra {
                Extra::Partial(k) => {
                    let k = usize::from(*k).min(sb.len().saturating_sub(1)).max(1);
                    tail_terms.push_str(&format!(" {}[..{k}]", s.terms));
                    chunk.extend(sb.get(..k).unwrap_or(&[]).iter().copied());
                }
                _ => {
                    tail_terms.push_str(&format!(" {}", s.terms));
                    chunk.extend(sb);
                }
            }
        }
        writes.push((tail_terms, chunk));
        if let Some(Lie::Long { n, fill: true }) = req.lie {
            writes.push((format!("rep({n}, \"f\")"), vec![B::C(b'f'); usize::from(n)]));
        }
        let chunks: Vec<Vec<B>> = writes.iter().map(|w| w.1.clone()).collect();
        let image = self.placements(fd, &chunks);
        if !self.make_room(fd, &image) {
            return;
        }
        if split {
            self.line(format!("let {l} = {}", msg.terms));
        }
        for (text, bytes) in writes {
            self.line(format!("write {name} {text}"));
            self.device_write(fd, &bytes);
        }
        // A long lie not filled: throw the partial message away.
        if let Some(Lie::Long { fill: false, .. }) = req.lie {
            self.resync(fd);
        }
    }

    /// Where a sequence of writes puts its bytes in the descriptor's
    /// buffer (offset, byte), following the write path's discards.
    fn placements(&self, fd: u8, chunks: &[Vec<B>]) -> Vec<(usize, Option<u8>)> {
        let mut out = Vec::new();
        let mut buf: Vec<B> = self.fd(fd).buf.clone();
        for c in chunks {
            let n = c.len();
            if n == 0 {
                continue;
            }
            if n > 4096usize.saturating_sub(buf.len()) {
                buf.clear();
                continue;
            }
            for (i, x) in c.iter().enumerate() {
                out.push((buf.len() + i, if let B::C(v) = x { Some(*v) } else { None }));
            }
            buf.extend_from_slice(c);
            if buf.len() < 16 {
                continue;
            }
            let Some(len) = Self::concrete_u32(buf.get(12..16).unwrap_or(&[])) else {
                buf.clear();
                continue;
            };
            if 16u64 + u64::from(len) > 4096 || buf.len() >= 16 + len as usize {
                buf.clear();
            }
        }
        out
    }

    fn raw(&mut self, fd: u8, kind: &RawKind) {
        if !self.fd(fd).open {
            return;
        }
        let name = Self::name(fd);
        match kind {
            RawKind::Zero => self.line(format!("write {name} \"\"")),
            RawKind::Oversize => {
                self.line(format!("write {name} rep(4097, \"z\")"));
                if self.fd(fd).mode != 0 {
                    self.fdm(fd).buf.clear();
                }
            }
            RawKind::Header { ty, len, fill, tx } => {
                let txr = if *tx == 0 { TxRef::Zero } else { TxRef::Lit(*tx) };
                if self.forwards_empty(fd, *ty, &txr, usize::from(*len)) {
                    return;
                }
                if *ty == names::WATCH || *ty == names::UNWATCH {
                    // The same rule as for requests: no forwarded reply of
                    // this descriptor may be unread.
                    if self.fd(fd).mode != 2 {
                        return;
                    }
                    if self.fd(fd).pending.iter().any(|p| p.forwarded) {
                        self.read_pending(fd);
                    }
                }
                self.resync(fd);
                let r = self.new_req(ReqSel::Auto);
                let payload = vec![*fill; usize::from(*len)];
                let mut bytes: Vec<B> = Vec::new();
                bytes.extend(le(*ty));
                bytes.extend(le(r));
                bytes.extend(le(*tx));
                bytes.extend(le(u32::from(*len)));
                bytes.extend(payload.iter().map(|&c| B::C(c)));
                let image = self.placements(fd, &[bytes]);
                if !self.make_room(fd, &image) {
                    return;
                }
                let mut text = format!("write {name} u32({ty:#x}) u32({r:#x}) u32({tx:#x}) u32({len})");
                if *len > 0 {
                    text.push_str(&format!(" rep({len}, {})", lit(&[*fill])));
                }
                self.line(text);
                let mut b: Vec<B> = Vec::new();
                b.extend(le(*ty));
                b.extend(le(r));
                b.extend(le(*tx));
                b.extend(le(u32::from(*len)));
                b.extend(payload.iter().map(|&c| B::C(c)));
                self.device_write(fd, &b);
            }
            RawKind::Fragment(bytes) => {
                self.resync(fd);
                self.line(format!("write {name} hex:{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()));
                let chunk: Vec<B> = bytes.iter().map(|&c| B::C(c)).collect();
                self.device_write(fd, &chunk);
                // Leave nothing half-written for long: the next request
                // resyncs first.
            }
        }
    }

    fn read(&mut self, fd: u8, style: &ReadStyle) {
        let m = self.fd(fd).clone();
        if !m.open {
            return;
        }
        let name = Self::name(fd);
        if m.mode == 1 {
            // Write-only: reads fail with EBADF without touching the queue.
            self.line(format!("read {name} 16 nonblock"));
            return;
        }
        match style {
            ReadStyle::All => self.read_pending(fd),
            ReadStyle::Some(k) => {
                if m.watch || m.racy || m.pending.is_empty() {
                    self.read_pending(fd);
                    return;
                }
                let k = usize::from(*k).min(m.pending.len());
                let pats: Vec<String> = m.pending.iter().take(k).map(|p| self.pattern(p)).collect();
                for p in pats {
                    self.line(format!("read {name} {p}"));
                }
                self.consumed(fd, k);
            }
            ReadStyle::Raw(sizes) => {
                if let Some(total) = self.known_queued(fd) {
                    // Known bytes: any sizes, then the rest.
                    let mut left = total;
                    for &s in sizes {
                        if left == 0 {
                            break;
                        }
                        let s = usize::from(s).max(1);
                        self.line(format!("read {name} {s}"));
                        left = left.saturating_sub(s);
                    }
                    if left > 0 {
                        self.line(format!("read {name} {left}"));
                    }
                    let n = m.pending.len();
                    self.consumed(fd, n);
                } else if !m.watch
                    && m.pending.len() == 1
                    && m.pending.iter().all(|p| p.kind == PendKind::Any && !p.names_domain)
                {
                    // One reply: wait for it, read a few header bytes, then
                    // the rest with a read large enough for any message.
                    if m.nonblock {
                        self.line(format!("poll {name} timeout=3000"));
                    }
                    let first = usize::from(sizes.first().copied().unwrap_or(5)).clamp(1, 12);
                    self.line(format!("read {name} {first}"));
                    self.line(format!("read {name} 65536"));
                    self.consumed(fd, 1);
                } else {
                    self.read_pending(fd);
                }
            }
            ReadStyle::Empty(n) => {
                if self.known_empty(fd) {
                    self.line(format!("read {name} {n} nonblock"));
                } else {
                    self.read_pending(fd);
                }
            }
        }
    }

    fn poll(&mut self, fds: &[u8], events: u16) {
        // Classes: known empty, known queued, one waiting descriptor.
        let mut empty = Vec::new();
        let mut queued = Vec::new();
        let mut waiting = Vec::new();
        for &f in fds {
            let m = self.fd(f);
            if !m.open {
                continue;
            }
            if self.known_empty(f) {
                empty.push(f);
            } else if self.known_queued(f).is_some() {
                queued.push(f);
            } else if !m.watch && m.pending.iter().any(|p| p.forwarded) {
                waiting.push(f);
            }
        }
        let (set, timeout) = if waiting.len() == 1 && queued.is_empty() && events & 0x041 != 0 {
            let mut s = empty.clone();
            s.extend(&waiting);
            (s, 3000)
        } else {
            let mut s = empty.clone();
            s.extend(&queued);
            (s, if queued.is_empty() { 20 } else { 0 })
        };
        if set.is_empty() {
            return;
        }
        let mut set = set;
        set.sort_unstable();
        let names: Vec<&str> = set.iter().map(|&f| Self::name(f)).collect();
        let ev = crate::names::poll_mask_name(events);
        self.line(format!("poll {} events={ev} timeout={timeout}", names.join(" ")));
    }

    fn finish(&mut self) {
        for fd in 0..4u8 {
            if self.fd(fd).open {
                self.read_pending(fd);
            }
        }
        for fd in 0..4u8 {
            if self.fd(fd).open {
                self.line(format!("close {}", Self::name(fd)));
                self.fds[usize::from(fd)] = FdM::default();
            }
        }
        if self.barrier_open {
            self.line(format!("close {BARRIER_FD}"));
            self.barrier_open = false;
        }
    }
}

/// The scenario text of a generated scenario.
pub fn render(g: &Generated) -> String {
    let mut r = Renderer::new(g);
    for a in &g.actions {
        r.render_action(a);
    }
    r.finish();
    let mut out = String::new();
    out.push_str(&format!(
        "generated: seed {} index {} (make conformance-random SEED={} COUNT={})\n",
        g.seed,
        g.index,
        g.seed,
        g.index + 1
    ));
    match g.shrunk_from {
        Some(n) => out.push_str(&format!(
            "about: random differential scenario, shrunk from {n} to {} actions\n",
            g.actions.len()
        )),
        None => out.push_str(&format!("about: random differential scenario of {} actions\n", g.actions.len())),
    }
    for l in &r.lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Shrinking

fn simpler_action(a: &Action) -> Vec<Action> {
    let mut out = Vec::new();
    match a {
        Action::Request { fd, req, cuts, extra, repeat } => {
            let mk = |req: Req, cuts: Vec<u16>, extra: Extra, repeat: u8| Action::Request {
                fd: *fd,
                req,
                cuts,
                extra,
                repeat,
            };
            if *repeat > 0 {
                out.push(mk(req.clone(), cuts.clone(), extra.clone(), 0));
            }
            if !cuts.is_empty() {
                out.push(mk(req.clone(), Vec::new(), extra.clone(), *repeat));
            }
            if *extra != Extra::None {
                out.push(mk(req.clone(), cuts.clone(), Extra::None, *repeat));
            }
            if req.lie.is_some() {
                let mut r = req.clone();
                r.lie = None;
                out.push(mk(r, cuts.clone(), extra.clone(), *repeat));
            }
            if req.req != ReqSel::Auto {
                let mut r = req.clone();
                r.req = ReqSel::Auto;
                out.push(mk(r, cuts.clone(), extra.clone(), *repeat));
            }
            for (i, s) in req.payload.iter().enumerate() {
                let shorter: Vec<Seg> = match s {
                    Seg::Run(c, n) if *n > 1 => vec![Seg::Run(*c, n / 2), Seg::Run(*c, 1)],
                    Seg::Lit(b) if b.len() > 1 && !b.contains(&0) => {
                        vec![Seg::Lit(b.get(..b.len() / 2).unwrap_or(&[]).to_vec())]
                    }
                    _ => Vec::new(),
                };
                for sh in shorter {
                    let mut r = req.clone();
                    if let Some(slot) = r.payload.get_mut(i) {
                        *slot = sh;
                    }
                    out.push(mk(r, cuts.clone(), extra.clone(), *repeat));
                }
            }
        }
        Action::Open { fd, mode, nonblock } => {
            if *nonblock {
                out.push(Action::Open { fd: *fd, mode: *mode, nonblock: false });
            }
            if *mode != 2 {
                out.push(Action::Open { fd: *fd, mode: 2, nonblock: *nonblock });
            }
        }
        Action::Poll { fds, events } if fds.len() > 1 => {
            for i in 0..fds.len() {
                let mut f = fds.clone();
                f.remove(i);
                out.push(Action::Poll { fds: f, events: *events });
            }
        }
        Action::Read { fd, style } if *style != ReadStyle::All => {
            out.push(Action::Read { fd: *fd, style: ReadStyle::All })
        }
        _ => {}
    }
    out
}

/// Smaller versions of a generated scenario, most aggressive first: halves,
/// quarters, ... of the actions removed, then single actions removed, then
/// single actions made simpler. The caller keeps the first candidate that
/// still shows the difference and asks again.
pub fn shrink_candidates(g: &Generated) -> Vec<Generated> {
    let n = g.actions.len();
    let mut out = Vec::new();
    let mk = |actions: Vec<Action>| Generated {
        seed: g.seed,
        index: g.index,
        actions,
        cfg: g.cfg.clone(),
        shrunk_from: Some(g.shrunk_from.unwrap_or(n)),
    };
    let mut chunk = n / 2;
    while chunk >= 2 {
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let mut a = g.actions.clone();
            a.drain(start..end);
            if !a.is_empty() {
                out.push(mk(a));
            }
            start += chunk;
        }
        chunk /= 2;
    }
    for i in 0..n {
        let mut a = g.actions.clone();
        a.remove(i);
        if !a.is_empty() {
            out.push(mk(a));
        }
    }
    for i in 0..n {
        if let Some(orig) = g.actions.get(i) {
            for s in simpler_action(orig) {
                let mut a = g.actions.clone();
                if let Some(slot) = a.get_mut(i) {
                    *slot = s;
                }
                out.push(mk(a));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        for d in 0..10 {
            assert!(xs.contains(&d));
        }
        assert_eq!(Rng::new(0).below(0), 0);
        assert_eq!(Rng::new(5).range(3, 3), 3);
    }

    #[test]
    fn same_seed_same_scenario() {
        let c = GenConfig::default();
        assert_eq!(render(&generate(7, 3, &c)), render(&generate(7, 3, &c)));
        assert_ne!(render(&generate(7, 3, &c)), render(&generate(7, 4, &c)));
        assert_ne!(render(&generate(7, 3, &c)), render(&generate(8, 3, &c)));
    }

    #[test]
    fn lit_escapes() {
        assert_eq!(lit(b"a\0\"\\\xff"), "\"a\\0\\\"\\\\\\xff\"");
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    fn req(ty: u32, tx: TxRef, payload: &[u8]) -> Req {
        Req { ty, req: ReqSel::Auto, tx, payload: vec![Seg::Lit(payload.to_vec())], lie: None }
    }

    fn scenario(actions: Vec<Action>) -> String {
        let g = Generated { seed: 3, index: 1, actions, cfg: GenConfig::default(), shrunk_from: None };
        render(&g)
    }

    fn request(fd: u8, r: Req) -> Action {
        Action::Request { fd, req: r, cuts: Vec::new(), extra: Extra::None, repeat: 0 }
    }

    #[test]
    fn a_write_that_would_change_an_unsent_payload_waits_for_the_reply() {
        let t = scenario(vec![
            Action::Open { fd: 0, mode: 2, nonblock: false },
            request(0, req(names::READ, TxRef::Zero, b"data/conf/g3-0001/aaa\0")),
            request(0, req(names::READ, TxRef::Zero, b"data/conf/g3-0001/bbb\0")),
        ]);
        let lines: Vec<&str> = t.lines().filter(|l| !l.starts_with("generated:") && !l.starts_with("about:")).collect();
        // The first reply is read before the second request is written.
        assert!(lines[1].starts_with("write A msg(READ, "), "{t}");
        assert!(lines[2].starts_with("read A msg(_, "), "{t}");
        assert!(lines[3].contains("bbb"), "{t}");
        // Equal payloads are pipelined.
        let t = scenario(vec![
            Action::Open { fd: 0, mode: 2, nonblock: false },
            Action::Request {
                fd: 0,
                req: req(names::READ, TxRef::Zero, b"data/conf/g3-0001/aaa\0"),
                cuts: Vec::new(),
                extra: Extra::None,
                repeat: 2,
            },
        ]);
        assert_eq!(t.lines().filter(|l| l.starts_with("write A")).count(), 3, "{t}");
        assert!(t.contains("write A msg(READ, ") && !t.lines().nth(3).unwrap_or("").starts_with("read"), "{t}");
    }

    #[test]
    fn watch_and_unwatch_wait_for_forwarded_replies_and_events() {
        let t = scenario(vec![
            Action::Open { fd: 0, mode: 2, nonblock: false },
            request(0, req(names::READ, TxRef::Zero, b"data/conf/g3-0001/a\0")),
            request(0, req(names::WATCH, TxRef::Zero, b"data/conf/g3-0001/a\0tok\0")),
            request(0, req(names::UNWATCH, TxRef::Zero, b"data/conf/g3-0001/a\0tok\0")),
        ]);
        let w = t.find("msg(WATCH,").unwrap();
        let r = t.find("read A msg(_, ").unwrap();
        assert!(r < w, "the READ reply is read before the WATCH:\n{t}");
        let u = t.find("msg(UNWATCH,").unwrap();
        let drain = t.find("read A all").unwrap();
        assert!(drain < u, "the watch descriptor is drained before the UNWATCH:\n{t}");
        assert!(t.contains("open Z") && t.contains("write Z msg(READ,"), "barrier on its own descriptor:\n{t}");
    }

    #[test]
    fn no_empty_request_no_end_zero_no_second_end_in_flight() {
        let t = scenario(vec![
            Action::Open { fd: 0, mode: 2, nonblock: false },
            Action::Request {
                fd: 0,
                req: Req { ty: names::READ, req: ReqSel::Auto, tx: TxRef::Zero, payload: Vec::new(), lie: None },
                cuts: Vec::new(),
                extra: Extra::None,
                repeat: 0,
            },
            request(0, req(7, TxRef::Zero, b"T\0")),
            request(0, req(names::TRANSACTION_START, TxRef::Zero, b"\0")),
            request(0, req(7, TxRef::Slot(0), b"T\0")),
            request(0, req(7, TxRef::Slot(0), b"F\0")),
        ]);
        assert!(!t.contains("msg(READ, "), "an empty READ was written:\n{t}");
        assert!(
            !t.lines().any(|l| l.contains("msg(TRANSACTION_END,") && l.contains(", 0, \"T")),
            "END with tx 0:\n{t}"
        );
        // The second END comes only after the first END's reply was read.
        let first = t.find("msg(TRANSACTION_END,").unwrap();
        let second = t.rfind("msg(TRANSACTION_END,").unwrap();
        let between = &t[first..second];
        assert!(between.contains("\nread A msg(_, "), "{t}");
    }

    #[test]
    fn shrinking_only_removes_or_simplifies() {
        let g = generate(5, 5, &GenConfig::default());
        for c in shrink_candidates(&g) {
            assert!(c.actions.len() <= g.actions.len());
            assert_eq!(c.shrunk_from, Some(g.actions.len()));
            assert_eq!(c.name(), g.name());
        }
    }
}
