//! Lookups of the store's hottest queries without scanning every row: a
//! workspace's latest build, a job by ID and its build, a job's agents, an
//! agent by ID.
//!
//! The tables are public vectors that grow by appending, so the index
//! follows them lazily: each lookup first indexes the rows appended since
//! the last one. It relies on rows never being removed or reordered and on
//! their keys (a build's workspace, number and job, a job's ID, a resource's job, an
//! agent's ID and resource) not changing in place; code that does change
//! one calls [`RowIndex::reset`] (the prebuild claim moving resources to
//! a new job does). A shrunk table or a hit whose key no longer matches
//! rebuilds the index, and debug builds check every answer against the
//! plain scan, so a missed reset fails the tests instead of changing a
//! result. Answers are exactly the scans': the same rows, in DB order, ties
//! broken the same way.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use uuid::Uuid;

use crate::model::{ProvisionerJob, WorkspaceAgent, WorkspaceBuild, WorkspaceResource};

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
    latest_build: BTreeMap<Uuid, usize>,
    /// Job → its first build's row.
    build_of_job: BTreeMap<Uuid, usize>,
    jobs_seen: usize,
    /// Job ID → its first row.
    job_row: BTreeMap<Uuid, usize>,
    resources_seen: usize,
    /// Job → IDs of its resources, in DB order.
    resources_of_job: BTreeMap<Uuid, Vec<Uuid>>,
    agents_seen: usize,
    /// Resource → rows of its agents, in DB order.
    agents_of_resource: BTreeMap<Uuid, Vec<usize>>,
    /// Agent ID → its first row.
    agent_row: BTreeMap<Uuid, usize>,
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
        let row = inner.latest_build.get(&workspace_id).copied();
        if row.is_some_and(|i| builds[i].workspace_id != workspace_id) {
            *inner = Inner::default();
            inner.catch_up_builds(builds);
            return inner.latest_build.get(&workspace_id).copied();
        }
        row
    }

    /// The first row of the job with this ID.
    pub fn job(&self, jobs: &[ProvisionerJob], job_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_jobs(jobs);
        let row = inner.job_row.get(&job_id).copied();
        if row.is_some_and(|i| jobs[i].id != job_id) {
            *inner = Inner::default();
            inner.catch_up_jobs(jobs);
            return inner.job_row.get(&job_id).copied();
        }
        row
    }

    /// The row of the first build the job belongs to.
    pub fn build_of_job(&self, builds: &[WorkspaceBuild], job_id: Uuid) -> Option<usize> {
        let mut inner = self.inner.borrow_mut();
        inner.catch_up_builds(builds);
        let row = inner.build_of_job.get(&job_id).copied();
        if row.is_some_and(|i| builds[i].job_id != job_id) {
            *inner = Inner::default();
            inner.catch_up_builds(builds);
            return inner.build_of_job.get(&job_id).copied();
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
            .get(&job_id)
            .into_iter()
            .flatten()
            .filter_map(|r| inner.agents_of_resource.get(r))
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
        let row = inner.agent_row.get(&agent_id).copied();
        if row.is_some_and(|i| agents[i].id != agent_id) {
            *inner = Inner::default();
            inner.catch_up_agents(agents);
            return inner.agent_row.get(&agent_id).copied();
        }
        row
    }
}

impl Inner {
    fn catch_up_builds(&mut self, builds: &[WorkspaceBuild]) {
        if builds.len() < self.builds_seen {
            self.builds_seen = 0;
            self.latest_build.clear();
            self.build_of_job.clear();
        }
        for (i, b) in builds.iter().enumerate().skip(self.builds_seen) {
            let latest = self.latest_build.entry(b.workspace_id).or_insert(i);
            if builds[*latest].build_number <= b.build_number {
                *latest = i;
            }
            self.build_of_job.entry(b.job_id).or_insert(i);
        }
        self.builds_seen = builds.len();
    }

    fn catch_up_jobs(&mut self, jobs: &[ProvisionerJob]) {
        if jobs.len() < self.jobs_seen {
            self.jobs_seen = 0;
            self.job_row.clear();
        }
        for (i, j) in jobs.iter().enumerate().skip(self.jobs_seen) {
            self.job_row.entry(j.id).or_insert(i);
        }
        self.jobs_seen = jobs.len();
    }

    fn catch_up_resources(&mut self, resources: &[WorkspaceResource]) {
        if resources.len() < self.resources_seen {
            self.resources_seen = 0;
            self.resources_of_job.clear();
        }
        for r in &resources[self.resources_seen..] {
            self.resources_of_job
                .entry(r.job_id)
                .or_default()
                .push(r.id);
        }
        self.resources_seen = resources.len();
    }

    fn catch_up_agents(&mut self, agents: &[WorkspaceAgent]) {
        if agents.len() < self.agents_seen {
            self.agents_seen = 0;
            self.agents_of_resource.clear();
            self.agent_row.clear();
        }
        for (i, a) in agents.iter().enumerate().skip(self.agents_seen) {
            if let Some(resource) = a.resource_id {
                self.agents_of_resource.entry(resource).or_default().push(i);
            }
            self.agent_row.entry(a.id).or_insert(i);
        }
        self.agents_seen = agents.len();
    }
}
