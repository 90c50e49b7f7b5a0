//! The codeinsights database: insight series, views, dashboards, background-job state,
//! repository names, and `series_points` (the bulk: a time series per series and repo).
//!
//! `series_points` references only `metadata` and `repo_names`, so it is written last and
//! simply runs until the script reaches the requested size. Its foreign keys are dropped
//! before and re-added after its COPY (validated in one pass, as in a pg_dump restore).

use std::fmt::Write as _;
use std::io;

use crate::content::{
    hex_string, repo_info, sentence, stream, tricky, tricky_first, TRICKY, UNICODE_WORDS, WORDS,
};
use crate::copy::{array_literal, header, micros, setval, Json, Row, Script, DAY, HOUR};
use crate::rng::Rng;

const T2020: i64 = micros(2020, 1, 1, 0, 0, 0);
const T2023: i64 = micros(2023, 6, 1, 0, 0, 0);

/// Script bytes per series (and per repository name), for sizing the small tables.
const BYTES_PER_SERIES: u64 = 256 << 10;
const BYTES_PER_REPO_NAME: u64 = 8 << 10;
const METADATA_ROWS: i64 = 50;

/// Values nobody expects in a double precision column; the first points carry them all.
const ODD_VALUES: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    1e-300,
    0.1,
    f64::MAX,
    f64::MIN_POSITIVE,
    -1e300,
    0.30000000000000004,
    123_456_789.123_456_78,
];

/// Times nobody expects in a timestamptz column; the first points carry them all.
const ODD_TIMES: &[i64] = &[
    micros(-43, 3, 15, 12, 0, 0),
    micros(1, 1, 1, 0, 0, 0),
    micros(1900, 1, 1, 0, 0, 0),
    micros(1969, 12, 31, 23, 59, 59) + 999_999,
    micros(2099, 12, 31, 23, 59, 59) + 999_999,
];

/// Sample intervals: (enum label, microseconds).
const INTERVALS: &[(&str, i64)] = &[
    ("MONTH", 30 * DAY),
    ("MONTH", 30 * DAY),
    ("WEEK", 7 * DAY),
    ("DAY", DAY),
    ("HOUR", HOUR),
    ("YEAR", 365 * DAY),
];

/// What `series_points` needs to know about a series (kept in memory: bounded count).
struct SeriesInfo {
    series_id: String,
    start: i64,
    step: i64,
    points: i64,
    capture: bool,
    repo_offset: i64,
}

struct Insights {
    seed: u64,
    series: Vec<SeriesInfo>,
    repos: i64,
    old_names: i64,
    views: i64,
    dashboards: i64,
    grants: i64,
    dashboard_grants: i64,
    dashboard_views: i64,
    iterator_errors: i64,
    retention_jobs: i64,
    incomplete: i64,
    tmp: String,
    json: String,
}

/// Writes the codeinsights script.
pub(crate) fn generate(s: &mut Script<'_>, target: u64, seed: u64) -> io::Result<()> {
    let nseries = (target / BYTES_PER_SERIES).clamp(2, 20_000) as i64;
    let repos = (target / BYTES_PER_REPO_NAME).clamp(20, 2_000_000) as i64;
    let series = (1..=nseries).map(|id| series_info(seed, id)).collect();
    let mut g = Insights {
        seed,
        series,
        repos,
        old_names: (repos / 10).max(1),
        views: nseries,
        dashboards: nseries / 4 + 1,
        grants: 0,
        dashboard_grants: 0,
        dashboard_views: 0,
        iterator_errors: 0,
        retention_jobs: 0,
        incomplete: 0,
        tmp: String::new(),
        json: String::new(),
    };
    s.sql(&header("codeinsights", seed, target))?;
    g.repo_names(s)?;
    g.metadata(s)?;
    g.insight_series(s)?;
    g.views(s)?;
    g.dashboards(s)?;
    g.iterators_and_jobs(s)?;
    g.recording_times(s)?;
    g.small_points(s)?;
    let trailer = g.trailer();
    g.series_points(s, target.saturating_sub(trailer.len() as u64))?;
    s.sql(&trailer)
}

fn series_info(seed: u64, id: i64) -> SeriesInfo {
    let mut rng = Rng::new(seed, stream::SERIES, id as u64);
    let mut series_id = String::new();
    hex_string(&mut rng, &mut series_id, 20);
    let _ = write!(series_id, "{id:06x}");
    let (_, step) = rng.pick(INTERVALS);
    // Yearly series cover a decade at most; the others 12 to 52 samples.
    let points = if step >= 365 * DAY {
        rng.range(3, 10)
    } else {
        rng.range(12, 52)
    };
    SeriesInfo {
        series_id,
        start: T2023 - points * step,
        step,
        points,
        capture: rng.chance(1, 5),
        repo_offset: rng.below(1 << 20) as i64,
    }
}

impl Insights {
    fn repo_names(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy("repo_names", &["id", "name"])?;
        // Ids 1..=repos are the current names of frontend repos 1..=repos (same seed);
        // the rest are names from before a rename.
        for id in 1..=self.repos {
            repo_info(self.seed, id, &mut self.tmp);
            let name = &self.tmp;
            s.row(|r| {
                r.int(id);
                r.text(name);
            })?;
        }
        for k in 1..=self.old_names {
            self.tmp.clear();
            let _ = write!(self.tmp, "github.com/old-org/renamed-{k}");
            if k % 7 == 0 {
                let _ = write!(self.tmp, "-{}", UNICODE_WORDS[k as usize % UNICODE_WORDS.len()]);
            }
            let name = &self.tmp;
            s.row(|r| {
                r.int(self.repos + k);
                r.text(name);
            })?;
        }
        s.end_copy()
    }

    fn metadata(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy("metadata", &["id", "metadata"])?;
        for id in 1..=METADATA_ROWS {
            let mut rng = Rng::new(self.seed, stream::INSIGHTS_MISC, id as u64);
            self.json.clear();
            let note = match tricky_first(id as u64 - 1) {
                Some(t) => t,
                None => rng.pick(WORDS),
            };
            // "n" keeps every object distinct (metadata has a unique index).
            Json::new(&mut self.json)
                .obj()
                .kv_int("n", id)
                .kv_str("note", note)
                .key("k")
                .arr()
                .int(rng.range(0, 9))
                .raw("2.5")
                .null()
                .end_arr()
                .end_obj();
            let json = &self.json;
            s.row(|r| {
                r.int(id);
                r.text(json);
            })?;
        }
        s.end_copy()
    }

    fn insight_series(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        const QUERIES: &[&str] = &[
            "TODO count:all",
            "lang:go fmt.Println count:all",
            "patterntype:regexp /version: (\\d+\\.\\d+)/ file:package\\.json",
            "select:repo repo:has.file(Dockerfile)",
            "type:commit author:alice",
            "\"DROP TABLE\" lang:sql",
        ];
        s.begin_copy(
            "insight_series",
            &[
                "id",
                "series_id",
                "query",
                "created_at",
                "oldest_historical_at",
                "last_recorded_at",
                "next_recording_after",
                "deleted_at",
                "backfill_queued_at",
                "last_snapshot_at",
                "next_snapshot_after",
                "repositories",
                "sample_interval_unit",
                "sample_interval_value",
                "generated_from_capture_groups",
                "generation_method",
                "just_in_time",
                "group_by",
                "backfill_attempts",
                "needs_migration",
                "backfill_completed_at",
                "supports_augmentation",
                "repository_criteria",
            ],
        )?;
        for (i, info) in self.series.iter().enumerate() {
            let id = i as i64 + 1;
            let mut rng = Rng::new(self.seed, stream::SERIES ^ 0x10, id as u64);
            self.tmp.clear();
            let query = match tricky_first(i as u64) {
                Some(t) => t,
                None if rng.chance(1, 20) => tricky(&mut rng),
                None => rng.pick(QUERIES),
            };
            let unit = INTERVALS
                .iter()
                .find(|(_, step)| *step == info.step)
                .map_or("MONTH", |(u, _)| u);
            let repositories = if rng.chance(2, 5) {
                let mut names = Vec::new();
                let mut name = String::new();
                for _ in 0..rng.range(1, 5) {
                    repo_info(self.seed, rng.range(1, self.repos), &mut name);
                    names.push(name.clone());
                }
                array_literal(&mut self.tmp, names.iter().map(|n| Some(n.as_str())));
                Some(self.tmp.as_str())
            } else {
                None
            };
            let created = info.start - DAY;
            let deleted = rng.chance(1, 30).then_some(T2023 + DAY);
            let method = if info.capture {
                "search-compute"
            } else {
                rng.pick(&["search", "search", "language-stats", "mapping-compute"])
            };
            let group_by = (method == "mapping-compute").then(|| rng.pick(&["repo", "lang", "author"]));
            let series_id = info.series_id.as_str();
            let criteria = rng.chance(1, 4).then_some("repo:^github\\.com/org-1/ fork:yes");
            s.row(|r| {
                r.int(id);
                r.raw(series_id);
                r.text(query);
                r.ts_naive(created);
                r.ts_naive(info.start);
                r.ts_naive(T2023);
                r.ts_naive(T2023 + info.step);
                r.opt_ts_naive(deleted);
                r.ts_naive(created + HOUR);
                r.ts_naive(T2023);
                r.ts_naive(T2023 + DAY);
                r.opt_text(repositories);
                r.raw(unit);
                r.int(1);
                r.bool(info.capture);
                r.raw(method);
                r.bool(false);
                r.opt_text(group_by);
                r.int(1);
                r.bool(false);
                r.ts_naive(created + 2 * HOUR);
                r.bool(true);
                r.opt_text(criteria);
            })?;
        }
        s.end_copy()
    }

    fn views(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "insight_view",
            &[
                "id",
                "title",
                "description",
                "unique_id",
                "default_filter_include_repo_regex",
                "default_filter_exclude_repo_regex",
                "other_threshold",
                "presentation_type",
                "is_frozen",
                "default_filter_search_contexts",
                "series_sort_mode",
                "series_sort_direction",
                "series_limit",
                "series_num_samples",
            ],
        )?;
        for id in 1..=self.views {
            let mut rng = Rng::new(self.seed, stream::VIEW, id as u64);
            self.tmp.clear();
            let title: &str = match tricky_first(id as u64 - 1) {
                Some(t) => t,
                None => {
                    let _ = write!(self.tmp, "{} over time", rng.pick(WORDS));
                    &self.tmp
                }
            };
            let mut desc = String::new();
            if rng.chance(1, 2) {
                sentence(&mut rng, &mut desc, 8);
            }
            let pie = rng.chance(1, 10);
            let contexts = rng.chance(1, 5).then(|| {
                let mut a = String::new();
                array_literal(&mut a, [Some("global"), Some("@alice/my context")]);
                a
            });
            let sort = rng.chance(1, 3);
            s.row(|r| {
                r.int(id);
                r.text(title);
                r.opt_text((!desc.is_empty()).then_some(desc.as_str()));
                r.text(&format!("view-{id}"));
                if sort {
                    r.text("^github\\.com/");
                } else {
                    r.null();
                }
                r.null();
                r.opt_text(pie.then_some("0.03"));
                r.raw(if pie { "PIE" } else { "LINE" });
                r.bool(id % 50 == 0);
                r.opt_text(contexts.as_deref());
                r.opt_text(sort.then_some("RESULT_COUNT"));
                r.opt_text(sort.then_some("DESC"));
                r.opt_int(sort.then_some(20));
                r.opt_int(sort.then_some(12));
            })?;
        }
        s.end_copy()?;

        s.begin_copy(
            "insight_view_series",
            &["insight_view_id", "insight_series_id", "label", "stroke"],
        )?;
        let n = self.series.len() as i64;
        for view in 1..=self.views {
            let extra = (view % 5 == 0 && n > 1).then_some(view % n + 1);
            for series in std::iter::once(view).chain(extra) {
                let label = if view <= TRICKY.len() as i64 {
                    TRICKY[view as usize - 1]
                } else {
                    "TODO"
                };
                s.row(|r| {
                    r.int(view);
                    r.int(series);
                    r.text(label);
                    r.raw("var(--oc-blue-7)");
                })?;
            }
        }
        s.end_copy()?;

        s.begin_copy(
            "insight_view_grants",
            &["id", "insight_view_id", "user_id", "org_id", "global"],
        )?;
        let mut id = 0;
        for view in 1..=self.views {
            id += 1;
            s.row(|r| {
                r.int(id);
                r.int(view);
                r.null();
                r.null();
                r.bool(true);
            })?;
            if view % 3 == 0 {
                id += 1;
                s.row(|r| {
                    r.int(id);
                    r.int(view);
                    r.int(view % 40 + 1);
                    r.null();
                    r.null();
                })?;
            }
        }
        self.grants = id;
        s.end_copy()
    }

    fn dashboards(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy(
            "dashboard",
            &[
                "id",
                "title",
                "created_at",
                "created_by_user_id",
                "last_updated_at",
                "deleted_at",
                "save",
                "type",
            ],
        )?;
        for id in 1..=self.dashboards {
            let mut rng = Rng::new(self.seed, stream::VIEW ^ 0x20, id as u64);
            let title = if rng.chance(1, 10) {
                tricky(&mut rng).to_string()
            } else {
                format!("{} dashboard", rng.pick(WORDS))
            };
            let at = T2020 + rng.below((3 * 365 * DAY) as u64) as i64;
            s.row(|r| {
                r.int(id);
                r.text(&title);
                r.ts_naive(at);
                r.opt_int((id % 2 == 0).then_some(id % 40 + 1));
                r.ts_naive(at + DAY);
                r.opt_ts_naive((id % 17 == 0).then_some(at + 30 * DAY));
                r.bool(false);
                r.raw("standard");
            })?;
        }
        s.end_copy()?;

        s.begin_copy(
            "dashboard_grants",
            &["id", "dashboard_id", "user_id", "org_id", "global"],
        )?;
        let mut id = 0;
        for d in 1..=self.dashboards {
            id += 1;
            s.row(|r| {
                r.int(id);
                r.int(d);
                if d % 2 == 0 {
                    r.int(d % 40 + 1);
                    r.null();
                    r.null();
                } else {
                    r.null();
                    r.null();
                    r.bool(true);
                }
            })?;
        }
        self.dashboard_grants = id;
        s.end_copy()?;

        s.begin_copy(
            "dashboard_insight_view",
            &["id", "dashboard_id", "insight_view_id"],
        )?;
        // View v is on dashboard (v-1)/4+1; every third view also on dashboard 1.
        let mut id = 0;
        for view in 1..=self.views {
            let d = (view - 1) / 4 + 1;
            let extra = (view % 3 == 0 && d != 1).then_some(1);
            for dash in std::iter::once(d).chain(extra) {
                id += 1;
                s.row(|r| {
                    r.int(id);
                    r.int(dash);
                    r.int(view);
                })?;
            }
        }
        self.dashboard_views = id;
        s.end_copy()
    }

    fn iterators_and_jobs(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        let n = self.series.len() as i64;
        s.begin_copy(
            "repo_iterator",
            &[
                "id",
                "created_at",
                "started_at",
                "completed_at",
                "last_updated_at",
                "runtime_duration",
                "percent_complete",
                "total_count",
                "success_count",
                "repos",
                "repo_cursor",
            ],
        )?;
        for id in 1..=n {
            let mut rng = Rng::new(self.seed, stream::INSIGHTS_MISC ^ 0x40, id as u64);
            let count = rng.range(1, 30);
            let first = rng.range(1, self.repos);
            let repos = self.repos;
            let done = rng.chance(4, 5);
            let at = self.series[id as usize - 1].start;
            s.row(|r| {
                r.int(id);
                r.ts_naive(at);
                r.ts_naive(at + 1_000_000);
                r.opt_ts_naive(done.then_some(at + HOUR));
                r.ts_naive(at + HOUR);
                r.int(if done { 3_600_000_000_000 } else { 0 });
                r.float(if done { 1.0 } else { 0.25 });
                r.int(count);
                r.int(if done { count } else { count / 4 });
                r.int_array((0..count).map(|k| (first + k * 7) % repos + 1));
                r.int(if done { count } else { count / 4 });
            })?;
        }
        s.end_copy()?;

        s.begin_copy(
            "repo_iterator_errors",
            &[
                "id",
                "repo_iterator_id",
                "repo_id",
                "error_message",
                "failure_count",
            ],
        )?;
        let mut id = 0;
        for it in (1..=n).filter(|i| i % 4 == 0) {
            id += 1;
            let mut rng = Rng::new(self.seed, stream::INSIGHTS_MISC ^ 0x50, id as u64);
            self.tmp.clear();
            array_literal(
                &mut self.tmp,
                [Some("search timed out"), Some(tricky(&mut rng)), None],
            );
            let msg = &self.tmp;
            let repo = rng.range(1, self.repos);
            s.row(|r| {
                r.int(id);
                r.int(it);
                r.int(repo);
                r.text(msg);
                r.int(3);
            })?;
        }
        self.iterator_errors = id;
        s.end_copy()?;

        s.begin_copy(
            "insight_series_backfill",
            &["id", "series_id", "repo_iterator_id", "estimated_cost", "state"],
        )?;
        for id in 1..=n {
            let mut rng = Rng::new(self.seed, stream::INSIGHTS_MISC ^ 0x60, id as u64);
            let state = rng.pick(&[
                "completed",
                "completed",
                "completed",
                "processing",
                "new",
                "failed",
            ]);
            let cost = rng.range(1, 100_000) as f64 / 8.0;
            s.row(|r| {
                r.int(id);
                r.int(id);
                r.int(id);
                r.float(cost);
                r.raw(state);
            })?;
        }
        s.end_copy()?;

        s.begin_copy("insights_background_jobs", JOB_COLUMNS_BACKFILL)?;
        for id in 1..=n {
            let (seed, json) = (self.seed, &mut self.json);
            s.row(|r| {
                job_columns(r, seed, id, json);
                r.int(id);
            })?;
        }
        s.end_copy()?;

        let mut cols = JOB_COLUMNS_BACKFILL[..JOB_COLUMNS_BACKFILL.len() - 1].to_vec();
        cols.extend(["series_id", "series_id_string"]);
        s.begin_copy("insights_data_retention_jobs", &cols)?;
        let mut id = 0;
        for series in (1..=n).filter(|i| i % 10 == 1) {
            id += 1;
            let (seed, json) = (self.seed, &mut self.json);
            let sid = self.series[series as usize - 1].series_id.as_str();
            s.row(|r| {
                job_columns(r, seed, 100_000 + id, json);
                r.int(series);
                r.raw(sid);
            })?;
        }
        self.retention_jobs = id;
        s.end_copy()?;

        s.begin_copy(
            "insight_series_incomplete_points",
            &["id", "series_id", "reason", "time", "repo_id"],
        )?;
        let mut id = 0;
        for series in 1..=n {
            let info = &self.series[series as usize - 1];
            for (k, reason) in ["timeout", "generic"].iter().enumerate() {
                id += 1;
                let time = info.start + (k as i64 + 1) * info.step;
                let repo = (k == 1).then_some(series % self.repos + 1);
                s.row(|r| {
                    r.int(id);
                    r.int(series);
                    r.raw(reason);
                    r.ts_naive(time);
                    r.opt_int(repo);
                })?;
            }
        }
        self.incomplete = id;
        s.end_copy()
    }

    fn recording_times(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        let cols = ["insight_series_id", "recording_time", "snapshot"];
        s.begin_copy("insight_series_recording_times", &cols)?;
        for (i, info) in self.series.iter().enumerate() {
            for t in 0..info.points {
                s.row(|r| {
                    r.int(i as i64 + 1);
                    r.ts(info.start + t * info.step);
                    r.bool(false);
                })?;
            }
            s.row(|r| {
                r.int(i as i64 + 1);
                r.ts(T2023 + HOUR);
                r.bool(true);
            })?;
        }
        s.end_copy()?;
        s.begin_copy("archived_insight_series_recording_times", &cols)?;
        for (i, info) in self.series.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            for t in 1..=2 {
                s.row(|r| {
                    r.int(i as i64 + 1);
                    r.ts(info.start - t * info.step);
                    r.bool(false);
                })?;
            }
        }
        s.end_copy()
    }

    /// Small tables shaped like `series_points`: snapshots and archived points.
    fn small_points(&mut self, s: &mut Script<'_>) -> io::Result<()> {
        s.begin_copy("series_points_snapshots", POINT_COLUMNS)?;
        let n = self.series.len() as u64;
        for k in 0..n * 5 {
            let (seed, tmp) = (self.seed, &mut self.tmp);
            let (series, repos, old) = (&self.series, self.repos, self.old_names);
            s.row(|r| point_row(r, seed, series, repos, old, k, true, tmp))?;
        }
        s.end_copy()?;
        let mut cols = POINT_COLUMNS.to_vec();
        cols.retain(|c| *c != "metadata_id");
        s.begin_copy("archived_series_points", &cols)?;
        for (i, info) in self.series.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            for t in 1..=2 {
                let repo = (i as i64 + t) % self.repos + 1;
                s.row(|r| {
                    r.raw(&info.series_id);
                    r.ts(info.start - t * info.step);
                    r.float(t as f64 * 3.0);
                    r.int(repo);
                    r.int(repo);
                    r.int(repo);
                    r.null();
                })?;
            }
        }
        s.end_copy()
    }

    /// The bulk: points until the script reaches `target` bytes.
    fn series_points(&mut self, s: &mut Script<'_>, target: u64) -> io::Result<()> {
        // Per-row foreign-key checks would cost as much as the COPY itself; like a pg_dump
        // restore, add the constraints after the data (same names and definitions, same
        // transaction), which validates them in one pass.
        s.sql(SERIES_POINTS_FKS_OFF)?;
        let target = target.saturating_sub(SERIES_POINTS_FKS_ON.len() as u64);
        s.begin_copy("series_points", POINT_COLUMNS)?;
        let mut k = 0u64;
        loop {
            let (seed, tmp) = (self.seed, &mut self.tmp);
            let (series, repos, old) = (&self.series, self.repos, self.old_names);
            s.row(|r| point_row(r, seed, series, repos, old, k, false, tmp))?;
            k += 1;
            // The closing `\.` line follows.
            if s.bytes() + 4 >= target {
                break;
            }
        }
        s.end_copy()?;
        s.sql(SERIES_POINTS_FKS_ON)
    }

    fn trailer(&self) -> String {
        let mut t = String::new();
        let n = self.series.len() as i64;
        for (seq, last) in [
            ("repo_names_id_seq", self.repos + self.old_names),
            ("metadata_id_seq", METADATA_ROWS),
            ("insight_series_id_seq", n),
            ("insight_view_id_seq", self.views),
            ("insight_view_grants_id_seq", self.grants),
            ("dashboard_id_seq", self.dashboards),
            ("dashboard_grants_id_seq", self.dashboard_grants),
            ("dashboard_insight_view_id_seq", self.dashboard_views),
            ("repo_iterator_id_seq", n),
            ("repo_iterator_errors_id_seq", self.iterator_errors),
            ("insight_series_backfill_id_seq", n),
            ("insights_background_jobs_id_seq", n),
            ("insights_data_retention_jobs_id_seq", self.retention_jobs),
            ("insight_series_incomplete_points_id_seq", self.incomplete),
        ] {
            setval(&mut t, seq, last);
        }
        t.push_str("\nCOMMIT;\n");
        t
    }
}

const SERIES_POINTS_FKS_OFF: &str =
    "ALTER TABLE ONLY \"public\".\"series_points\" DROP CONSTRAINT \"series_points_metadata_id_fkey\";
ALTER TABLE ONLY \"public\".\"series_points\" DROP CONSTRAINT \"series_points_original_repo_name_id_fkey\";
ALTER TABLE ONLY \"public\".\"series_points\" DROP CONSTRAINT \"series_points_repo_name_id_fkey\";

";

/// The definitions of codeinsights' squashed schema, verbatim.
const SERIES_POINTS_FKS_ON: &str = "ALTER TABLE ONLY \"public\".\"series_points\"
    ADD CONSTRAINT \"series_points_metadata_id_fkey\" FOREIGN KEY (\"metadata_id\") REFERENCES \"public\".\"metadata\"(\"id\") ON DELETE CASCADE DEFERRABLE;
ALTER TABLE ONLY \"public\".\"series_points\"
    ADD CONSTRAINT \"series_points_original_repo_name_id_fkey\" FOREIGN KEY (\"original_repo_name_id\") REFERENCES \"public\".\"repo_names\"(\"id\") ON DELETE CASCADE DEFERRABLE;
ALTER TABLE ONLY \"public\".\"series_points\"
    ADD CONSTRAINT \"series_points_repo_name_id_fkey\" FOREIGN KEY (\"repo_name_id\") REFERENCES \"public\".\"repo_names\"(\"id\") ON DELETE CASCADE DEFERRABLE;

";

const POINT_COLUMNS: &[&str] = &[
    "series_id",
    "time",
    "value",
    "metadata_id",
    "repo_id",
    "repo_name_id",
    "original_repo_name_id",
    "capture",
];

/// Points per series in a row of the bulk table: inserting one series at a time keeps
/// the series_id indexes' working set small (round-robin order thrashes them).
const CHUNK: u64 = 1024;

/// Point `k` of the endless, deterministic enumeration: chunks of `CHUNK` points per
/// series in turn (one point per series for snapshots); within a series, time then
/// repository.
#[allow(clippy::too_many_arguments)]
fn point_row(
    r: &mut Row<'_>,
    seed: u64,
    series: &[SeriesInfo],
    repos: i64,
    old_names: i64,
    k: u64,
    snapshot: bool,
    tmp: &mut String,
) {
    let n = series.len() as u64;
    let chunk = if snapshot { 1 } else { CHUNK };
    let round = k / (n * chunk);
    let info = &series[((k / chunk) % n) as usize];
    let j = (round * chunk + k % chunk) as i64;
    let t = j % info.points;
    let repo_idx = j / info.points;
    let mut rng = Rng::new(seed, stream::POINT ^ snapshot as u64, k);
    let time = match ODD_TIMES.get(k as usize) {
        Some(&odd) if !snapshot => odd,
        _ if snapshot => T2023 + HOUR,
        _ => info.start + t * info.step,
    };
    let value = match ODD_VALUES.get(k as usize) {
        Some(&odd) if !snapshot => odd,
        _ if rng.chance(1, 2000) => rng.pick(ODD_VALUES),
        _ if rng.chance(1, 8) => rng.skewed(10_000) as f64 + 0.5,
        _ => rng.skewed(10_000) as f64,
    };
    let global = rng.chance(1, 50);
    let repo = (repo_idx + info.repo_offset) % repos + 1;
    let original = if rng.chance(1, 20) {
        repos + repo % old_names + 1
    } else {
        repo
    };
    let metadata = rng.chance(1, 20).then(|| rng.range(1, METADATA_ROWS));
    tmp.clear();
    let capture: Option<&str> = if info.capture {
        if rng.chance(1, 100) {
            Some(tricky(&mut rng))
        } else {
            let _ = write!(tmp, "v{}.{}", rng.below(4), rng.below(20));
            Some(tmp.as_str())
        }
    } else {
        None
    };
    r.raw(&info.series_id);
    r.ts(time);
    r.float(value);
    r.opt_int(metadata);
    if global {
        r.null();
        r.null();
        r.null();
    } else {
        r.int(repo);
        r.int(repo);
        r.int(original);
    }
    r.opt_text(capture);
}

/// Columns of a dbworker job row, ending with the table's own foreign key.
const JOB_COLUMNS_BACKFILL: &[&str] = &[
    "id",
    "state",
    "failure_message",
    "queued_at",
    "started_at",
    "finished_at",
    "process_after",
    "num_resets",
    "num_failures",
    "last_heartbeat_at",
    "execution_logs",
    "worker_hostname",
    "cancel",
    "backfill_id",
];

/// The dbworker columns shared by both job tables (all but the last column).
fn job_columns(r: &mut Row<'_>, seed: u64, id: i64, json: &mut String) {
    let mut rng = Rng::new(seed, stream::INSIGHTS_MISC ^ 0x70, id as u64);
    let state = rng.pick(&[
        "completed",
        "completed",
        "queued",
        "processing",
        "errored",
        "failed",
    ]);
    let at = T2023 - rng.below((30 * DAY) as u64) as i64;
    let done = matches!(state, "completed" | "errored" | "failed");
    let failure = matches!(state, "errored" | "failed").then(|| tricky(&mut rng));
    json.clear();
    if done {
        let mut entry = String::new();
        Json::new(&mut entry)
            .obj()
            .kv_str("key", "insights.backfill")
            .kv_str("out", "query: TODO count:all\nresult: 42 \\o/")
            .kv_int("exitCode", 0)
            .end_obj();
        array_literal(json, [Some(entry.as_str())]);
    }
    r.int(id);
    r.raw(state);
    r.opt_text(failure);
    r.ts(at);
    r.opt_ts((state != "queued").then_some(at + 1_000_000));
    r.opt_ts(done.then_some(at + 60_000_000));
    r.null();
    r.int(0);
    r.int(failure.is_some() as i64);
    r.opt_ts((state == "processing").then_some(at + 2_000_000));
    r.opt_text(done.then_some(json.as_str()));
    r.text(if state == "queued" { "" } else { "worker-7f9c" });
    r.bool(false);
}
