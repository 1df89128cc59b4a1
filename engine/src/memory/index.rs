//! Lookups of the store's hottest queries without scanning every row: a
//! workspace's latest build, a job by ID and its build, a job's agents, an
//! agent by ID, the workspaces of a name.
//!
//! The tables are public vectors that grow by appending, so the index
//! follows them lazily: each lookup first indexes the rows appended since
//! the last one. It relies on rows never being removed or reordered and on
//! their keys (a build's workspace, number and job, a job's ID, a
//! resource's job, an agent's ID and resource, a workspace's name) not
//! changing in place; code that does change one calls [`RowIndex::reset`]
//! (the prebuild claim renaming the workspace and moving resources to a
//! new job does). A shrunk table or a hit whose key no longer matches
//! rebuilds the index, and debug builds check every answer against the
//! plain scan, so a missed reset fails the tests instead of changing a
//! result. Answers are exactly the scans': the same rows, in DB order, ties
//! broken the same way.

use std::cell::{Cell, RefCell};

use uuid::Uuid;

use crate::model::{ProvisionerJob, Workspace, WorkspaceAgent, WorkspaceBuild, WorkspaceResource};

/// An ID as the index's key: integers compare in a couple of instructions,
/// where `Uuid`'s byte-array order is a `memcmp` call.
fn key(id: Uuid) -> u128 {
    id.as_u128()
}

/// A name as the index's key: its FNV-1a hash, for the same reason as
/// [`key`]. Names may share a key, so a lookup compares each row's name.
fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A map kept as a vector sorted by key. A lookup is a binary search, a
/// handful of integer compares, where a `BTreeMap` compares up to a dozen
/// keys of each node it passes (a job among 60: about 60 instructions of
/// search instead of 150). An insertion shifts the greater keys: rows are
/// added far more rarely than looked up (a build wait looks up three
/// every 2 virtual seconds).
#[derive(Clone, Default)]
struct SortedMap<K, V>(Vec<(K, V)>);

impl<K: Ord + Copy, V> SortedMap<K, V> {
    fn get(&self, key: &K) -> Option<&V> {
        let i = self.0.binary_search_by_key(key, |e| e.0).ok()?;
        Some(&self.0[i].1)
    }

    /// The value of `key`, first set to `value()` when it has none.
    fn get_or_insert(&mut self, key: K, value: impl FnOnce() -> V) -> &mut V {
        let i = match self.0.binary_search_by_key(&key, |e| e.0) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, value()));
                i
            }
        };
        &mut self.0[i].1
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The index of one [`super::Tables`]; a cache, never a source of truth.
#[derive(Clone, Default)]
pub struct RowIndex {
    inner: RefCell<Inner>,
    /// How many times [`RowIndex::reset`] was called.
    resets: Cell<u64>,
}

impl std::fmt::Debug for RowIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowIndex")
    }
}

#[derive(Clone, Default)]
struct Inner {
    builds_seen: usize,
    /// Workspace → row of its highest-numbered build (the last such row on
    /// a tie, as `max_by_key`).
    latest_build: SortedMap<u128, usize>,
    /// Job → its first build's row.
    build_of_job: SortedMap<u128, usize>,
    jobs_seen: usize,
    /// Job ID → its first row.
    job_row: SortedMap<u128, usize>,
    resources_seen: usize,
    /// Job → IDs of its resources, in DB order.
    resources_of_job: SortedMap<u128, Vec<Uuid>>,
    agents_seen: usize,
    /// Resource → rows of its agents, in DB order.
    agents_of_resource: SortedMap<u128, Vec<usize>>,
    /// Agent ID → its first row.
    agent_row: SortedMap<u128, usize>,
    workspaces_seen: usize,
    /// [`name_key`] of a workspace name → rows of the workspaces so
    /// named, in DB order (names sharing a key share the list).
    workspaces_named: SortedMap<u64, Vec<usize>>,
}

impl RowIndex {
    /// Forgets everything: the next lookup re-indexes every row. Call it
    /// after changing a row's key in place.
    pub fn reset(&self) {
        *self.inner.borrow_mut() = Inner::default();
        self.resets.set(self.resets.get() + 1);
    }

    /// How many times [`RowIndex::reset`] was called: a row's key changed
    /// in place that often. A reader that caches what it derived from
    /// keys (like the index itself) re-derives it when this moves.
    pub fn resets(&self) -> u64 {
        self.resets.get()
    }

    /// The row of the workspace's highest-numbered build.
    pub fn latest_build(&self, builds: &[WorkspaceBuild], workspace_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_builds(builds);
        let row = inner.latest_build.get(&key(workspace_id)).copied();
        if row.is_some_and(|i| builds[i].workspace_id != workspace_id) {
            *inner = Inner::default();
            inner.catch_up_builds(builds);
            return inner.latest_build.get(&key(workspace_id)).copied();
        }
        row
    }

    /// The first row of the job with this ID.
    pub fn job(&self, jobs: &[ProvisionerJob], job_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_jobs(jobs);
        let row = inner.job_row.get(&key(job_id)).copied();
        if row.is_some_and(|i| jobs[i].id != job_id) {
            *inner = Inner::default();
            inner.catch_up_jobs(jobs);
            return inner.job_row.get(&key(job_id)).copied();
        }
        row
    }

    /// The row of the first build the job belongs to.
    pub fn build_of_job(&self, builds: &[WorkspaceBuild], job_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_builds(builds);
        let row = inner.build_of_job.get(&key(job_id)).copied();
        if row.is_some_and(|i| builds[i].job_id != job_id) {
            *inner = Inner::default();
            inner.catch_up_builds(builds);
            return inner.build_of_job.get(&key(job_id)).copied();
        }
        row
    }

    /// Rows of the agents whose resource belongs to the job, in DB order.
    pub fn agents_of_job(
        &self,
        resources: &[WorkspaceResource],
        agents: &[WorkspaceAgent],
        job_id: Uuid,
    ) -> Vec<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_resources(resources);
        inner.catch_up_agents(agents);
        let mut rows: Vec<usize> = inner
            .resources_of_job
            .get(&key(job_id))
            .into_iter()
            .flatten()
            .filter_map(|&r| inner.agents_of_resource.get(&key(r)))
            .flatten()
            .copied()
            .collect();
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// The first row of the agent with this ID.
    pub fn agent(&self, agents: &[WorkspaceAgent], agent_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_agents(agents);
        let row = inner.agent_row.get(&key(agent_id)).copied();
        if row.is_some_and(|i| agents[i].id != agent_id) {
            *inner = Inner::default();
            inner.catch_up_agents(agents);
            return inner.agent_row.get(&key(agent_id)).copied();
        }
        row
    }

    /// The first row, in DB order, of the workspaces named `name` that
    /// `pick` accepts. `pick` runs while the index is borrowed: it must not
    /// look anything up through it.
    pub fn workspace_named(
        &self,
        workspaces: &[Workspace],
        name: &str,
        mut pick: impl FnMut(&Workspace) -> bool,
    ) -> Option<usize> {
        let key = name_key(name);
        let renamed = |&i: &usize| {
            let row = &workspaces[i].name;
            row != name && name_key(row) != key
        };
        let mut first = |rows: &[usize]| {
            let mut named = rows.iter().copied();
            named.find(|&i| workspaces[i].name == name && pick(&workspaces[i]))
        };
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_workspaces(workspaces);
        let rows = inner
            .workspaces_named
            .get(&key)
            .map_or(&[][..], Vec::as_slice);
        if !rows.iter().any(renamed) {
            return first(rows);
        }
        *inner = Inner::default();
        inner.catch_up_workspaces(workspaces);
        first(inner.workspaces_named.get(&key).map_or(&[], Vec::as_slice))
    }
}

/// A catch-up is a compare, inlined into every lookup: it nearly always
/// finds nothing appended (or removed), and only then calls the indexing.
impl Inner {
    #[inline(always)]
    fn catch_up_workspaces(&mut self, workspaces: &[Workspace]) {
        if workspaces.len() != self.workspaces_seen {
            self.index_workspaces(workspaces);
        }
    }

    #[inline(always)]
    fn catch_up_builds(&mut self, builds: &[WorkspaceBuild]) {
        if builds.len() != self.builds_seen {
            self.index_builds(builds);
        }
    }

    #[inline(always)]
    fn catch_up_jobs(&mut self, jobs: &[ProvisionerJob]) {
        if jobs.len() != self.jobs_seen {
            self.index_jobs(jobs);
        }
    }

    #[inline(always)]
    fn catch_up_resources(&mut self, resources: &[WorkspaceResource]) {
        if resources.len() != self.resources_seen {
            self.index_resources(resources);
        }
    }

    #[inline(always)]
    fn catch_up_agents(&mut self, agents: &[WorkspaceAgent]) {
        if agents.len() != self.agents_seen {
            self.index_agents(agents);
        }
    }

    fn index_workspaces(&mut self, workspaces: &[Workspace]) {
        if workspaces.len() < self.workspaces_seen {
            self.workspaces_seen = 0;
            self.workspaces_named.clear();
        }
        for (i, w) in workspaces.iter().enumerate().skip(self.workspaces_seen) {
            let rows = self
                .workspaces_named
                .get_or_insert(name_key(&w.name), Vec::new);
            rows.push(i);
        }
        self.workspaces_seen = workspaces.len();
    }

    fn index_builds(&mut self, builds: &[WorkspaceBuild]) {
        if builds.len() < self.builds_seen {
            self.builds_seen = 0;
            self.latest_build.clear();
            self.build_of_job.clear();
        }
        for (i, b) in builds.iter().enumerate().skip(self.builds_seen) {
            let latest = self.latest_build.get_or_insert(key(b.workspace_id), || i);
            if builds[*latest].build_number <= b.build_number {
                *latest = i;
            }
            self.build_of_job.get_or_insert(key(b.job_id), || i);
        }
        self.builds_seen = builds.len();
    }

    fn index_jobs(&mut self, jobs: &[ProvisionerJob]) {
        if jobs.len() < self.jobs_seen {
            self.jobs_seen = 0;
            self.job_row.clear();
        }
        for (i, j) in jobs.iter().enumerate().skip(self.jobs_seen) {
            self.job_row.get_or_insert(key(j.id), || i);
        }
        self.jobs_seen = jobs.len();
    }

    fn index_resources(&mut self, resources: &[WorkspaceResource]) {
        if resources.len() < self.resources_seen {
            self.resources_seen = 0;
            self.resources_of_job.clear();
        }
        for r in &resources[self.resources_seen..] {
            let resources = self.resources_of_job.get_or_insert(key(r.job_id), Vec::new);
            resources.push(r.id);
        }
        self.resources_seen = resources.len();
    }

    fn index_agents(&mut self, agents: &[WorkspaceAgent]) {
        if agents.len() < self.agents_seen {
            self.agents_seen = 0;
            self.agents_of_resource.clear();
            self.agent_row.clear();
        }
        for (i, a) in agents.iter().enumerate().skip(self.agents_seen) {
            if let Some(resource) = a.resource_id {
                let agents = self
                    .agents_of_resource
                    .get_or_insert(key(resource), Vec::new);
                agents.push(i);
            }
            self.agent_row.get_or_insert(key(a.id), || i);
        }
        self.agents_seen = agents.len();
    }
}
