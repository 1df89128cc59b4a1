//! The status watcher's memory: the agents it watches (every agent of every
//! live workspace's latest build), the status it last traced for each, and
//! when the next one changes with time alone.
//!
//! The watcher wakes on every poke, so a wake must not cost every row of
//! the database. The rows are append-only, so [`StatusWatch::look`] first
//! catches up with the rows appended since its last look — a new workspace,
//! a new build (maybe a new latest), a resource or agent of a watched job —
//! and re-derives the watched agents of just those workspaces; then it reads
//! each watched agent's row once, in place. In-place edits of row keys (a
//! prebuild claim moving resources to its job) reset the store's index,
//! and a reset re-derives every workspace. A workspace's deletion is final.
//! What a look traces is exactly what re-deriving everything would: the
//! same agents, in ID order, with the same fields.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chatsim_engine::find_chat_agent;
use chatsim_engine::memory::Tables;
use chatsim_engine::model::{AgentStatus, WorkspaceAgent};
use chatsim_engine::Time;
use uuid::Uuid;

use crate::observe::trace::{id, trace_time, AgentStatusKind, Event};

/// A computed status as traced: its kind and its disconnected-since time.
type Traced = (AgentStatusKind, Option<Time>);

/// How far the watcher has read the append-only tables.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    workspaces: usize,
    builds: usize,
    resources: usize,
    agents: usize,
    /// The store index's resets: a row's key changed in place.
    index_resets: u64,
}

impl Seen {
    fn of(t: &Tables) -> Seen {
        Seen {
            workspaces: t.workspaces.len(),
            builds: t.builds.len(),
            resources: t.resources.len(),
            agents: t.agents.len(),
            index_resets: t.index.resets(),
        }
    }
}

/// A live workspace with a latest build: that build's job and agents.
struct Watched {
    job: Uuid,
    agents: Vec<Uuid>,
}

/// One watched agent.
struct Agent {
    /// Its row in `agents`.
    row: usize,
    /// Its workspace's row in `workspaces`.
    workspace: usize,
    /// Its workspace's latest build.
    build: Uuid,
    /// Whether it is the agent a chat would pick in its build.
    chat_agent: bool,
    /// The status last traced; `None` until the first look traces it.
    traced: Option<Traced>,
}

/// What the status watcher remembers between wakes (lost with coderd's
/// process, like the rest of its state: a restarted coderd traces every
/// status afresh).
#[derive(Default)]
pub(super) struct StatusWatch {
    seen: Seen,
    /// Workspace ID → its row.
    rows: BTreeMap<Uuid, usize>,
    /// Live workspaces with a latest build, by row.
    workspaces: BTreeMap<usize, Watched>,
    /// The watched builds' jobs → their workspace's row: where a new
    /// resource can add agents.
    jobs: BTreeMap<Uuid, usize>,
    /// The watched agents by ID: the order changes are traced in.
    agents: BTreeMap<Uuid, Agent>,
    /// When a status next changes with time alone, as of the last look.
    next_change: Option<Time>,
}

impl StatusWatch {
    /// Brings the watched set up to date with `t` and returns each change
    /// of a watched agent's computed status (or disconnected-since time)
    /// since the last look, in agent ID order, as trace events.
    pub(super) fn look(
        &mut self,
        t: &Tables,
        now: Time,
        inactive_timeout: Duration,
        epoch: Time,
    ) -> Vec<Event> {
        self.catch_up(t);
        let mut changes = Vec::new();
        let mut next_change = None;
        for (&agent_id, agent) in &mut self.agents {
            let row = &t.agents[agent.row];
            let status = row.status(now, inactive_timeout);
            let since = match status {
                AgentStatus::Disconnected { since } => since,
                _ => None,
            };
            let traced = (AgentStatusKind::from(status), since);
            if agent.traced != Some(traced) {
                changes.push(Event::AgentStatus {
                    agent: id(agent_id),
                    name: row.name.clone(),
                    from: agent.traced.map(|(kind, _)| kind),
                    to: traced.0,
                    workspace: t.workspaces[agent.workspace].name.clone(),
                    build: id(agent.build),
                    chat_agent: agent.chat_agent,
                    since: since.map(|at| trace_time(at.since(epoch))),
                });
                agent.traced = Some(traced);
            }
            if let Some(at) = time_change(row, now, inactive_timeout) {
                next_change = Some(next_change.map_or(at, |next: Time| next.min(at)));
            }
        }
        self.next_change = next_change;
        changes
    }

    /// When a watched agent's status next changes with time alone, as of
    /// the last [`StatusWatch::look`].
    pub(super) fn next_change(&self) -> Option<Time> {
        self.next_change
    }

    /// Re-derives the watched agents of every workspace the rows appended
    /// (or deletions) since the last look can have changed.
    fn catch_up(&mut self, t: &Tables) {
        let now = Seen::of(t);
        let mut dirty = BTreeSet::new();
        let shrunk = now.workspaces < self.seen.workspaces
            || now.builds < self.seen.builds
            || now.resources < self.seen.resources
            || now.agents < self.seen.agents;
        if shrunk || now.index_resets != self.seen.index_resets {
            // A key changed in place: re-derive every workspace.
            self.rows.clear();
            for (row, w) in t.workspaces.iter().enumerate() {
                self.rows.entry(w.id).or_insert(row);
            }
            dirty.extend(self.workspaces.keys().copied());
            dirty.extend(0..t.workspaces.len());
        } else if now != self.seen {
            self.dirty_from_appended(t, &mut dirty);
        }
        self.seen = now;
        let deleted = self
            .workspaces
            .keys()
            .filter(|&&row| t.workspaces.get(row).is_none_or(|w| w.deleted));
        dirty.extend(deleted);
        // Forget every dirty workspace's agents first, then re-derive them:
        // an agent keeps its traced status even when it moved workspace.
        let mut traced = BTreeMap::new();
        for &row in &dirty {
            self.unwatch(row, &mut traced);
        }
        for row in dirty {
            self.watch(t, row, &traced);
        }
    }

    /// Adds to `dirty` the workspaces that rows appended since the last
    /// look can have changed: new workspaces, workspaces with a new build,
    /// watched jobs with a new resource, and the jobs of new agents.
    fn dirty_from_appended(&mut self, t: &Tables, dirty: &mut BTreeSet<usize>) {
        for (row, w) in t.workspaces.iter().enumerate().skip(self.seen.workspaces) {
            self.rows.entry(w.id).or_insert(row);
            dirty.insert(row);
        }
        for b in &t.builds[self.seen.builds..] {
            dirty.extend(self.rows.get(&b.workspace_id));
        }
        let new_resources = &t.resources[self.seen.resources..];
        let mut jobs: BTreeSet<Uuid> = new_resources.iter().map(|r| r.job_id).collect();
        for a in &t.agents[self.seen.agents..] {
            let Some(resource) = a.resource_id else {
                continue;
            };
            // Almost always a resource appended with it: search from the end.
            if let Some(r) = t.resources.iter().rev().find(|r| r.id == resource) {
                jobs.insert(r.job_id);
            }
        }
        dirty.extend(jobs.iter().filter_map(|job| self.jobs.get(job)));
    }

    /// Stops watching the workspace at `row`, keeping each of its agents'
    /// traced status in `traced`.
    fn unwatch(&mut self, row: usize, traced: &mut BTreeMap<Uuid, Option<Traced>>) {
        let Some(old) = self.workspaces.remove(&row) else {
            return;
        };
        self.jobs.remove(&old.job);
        for agent in old.agents {
            if let Some(a) = self.agents.remove(&agent) {
                traced.insert(agent, a.traced);
            }
        }
    }

    /// Watches the agents of the latest build of the workspace at `row`, if
    /// it is live; an agent's traced status comes from `traced`.
    fn watch(&mut self, t: &Tables, row: usize, traced: &BTreeMap<Uuid, Option<Traced>>) {
        let Some(w) = t.workspaces.get(row).filter(|w| !w.deleted) else {
            return;
        };
        let Some(build) = t.latest_build(w.id) else {
            return;
        };
        let rows = t.agent_row_numbers_of_job(build.job_id);
        let chat = {
            let agents: Vec<WorkspaceAgent> = rows.iter().map(|&i| t.agents[i].clone()).collect();
            find_chat_agent(&agents).ok().map(|a| a.id)
        };
        let mut agents = Vec::with_capacity(rows.len());
        for agent_row in rows {
            let a = &t.agents[agent_row];
            debug_assert!(
                !self.agents.contains_key(&a.id),
                "agent {} watched in two workspaces",
                a.id
            );
            agents.push(a.id);
            self.agents.insert(
                a.id,
                Agent {
                    row: agent_row,
                    workspace: row,
                    build: build.id,
                    chat_agent: chat == Some(a.id),
                    traced: traced.get(&a.id).copied().flatten(),
                },
            );
        }
        self.jobs.insert(build.job_id, row);
        self.workspaces.insert(
            row,
            Watched {
                job: build.job_id,
                agents,
            },
        );
    }
}

/// When an agent's status next changes with time alone (no row change):
/// past its connection timeout, or past its inactive timeout.
fn time_change(a: &WorkspaceAgent, now: Time, inactive_timeout: Duration) -> Option<Time> {
    let threshold = match a.first_connected_at {
        None if a.connection_timeout_seconds > 0 => {
            let timeout = Duration::from_secs(a.connection_timeout_seconds as u64);
            a.created_at + timeout
        }
        None => return None,
        Some(_) => {
            let last = a.last_connected_at.unwrap_or(Time::ZERO);
            if a.disconnected_at.unwrap_or(Time::ZERO) >= last {
                return None;
            }
            last + inactive_timeout
        }
    };
    (threshold >= now).then_some(threshold)
}

#[cfg(test)]
mod tests {
    use chatsim_engine::model::{Workspace, WorkspaceBuild, WorkspaceResource};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// The watcher as it was: every wake re-derives every live workspace's
    /// latest build's agents from all rows. `look` must trace the same.
    fn rederive_all(
        t: &Tables,
        now: Time,
        traced: &mut BTreeMap<Uuid, Traced>,
    ) -> (Vec<Event>, Option<Time>) {
        let mut current = BTreeMap::new();
        let mut next: Option<Time> = None;
        for (row, w) in t.workspaces.iter().enumerate().filter(|(_, w)| !w.deleted) {
            let Some(build) = t.latest_build(w.id) else {
                continue;
            };
            let agents = t.agents_of_job(build.job_id);
            let chat = find_chat_agent(&agents).ok().map(|a| a.id);
            for a in &agents {
                if let Some(at) = time_change(a, now, TIMEOUT) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                let status = a.status(now, TIMEOUT);
                let since = match status {
                    AgentStatus::Disconnected { since } => since,
                    _ => None,
                };
                let seen = (AgentStatusKind::from(status), since);
                current.insert(
                    a.id,
                    (seen, row, build.id, chat == Some(a.id), a.name.clone()),
                );
            }
        }
        let mut events = Vec::new();
        for (agent, (seen, row, build, chat_agent, name)) in &current {
            let before = traced.insert(*agent, *seen);
            if before != Some(*seen) {
                events.push(Event::AgentStatus {
                    agent: id(*agent),
                    name: name.clone(),
                    from: before.map(|(kind, _)| kind),
                    to: seen.0,
                    workspace: t.workspaces[*row].name.clone(),
                    build: id(*build),
                    chat_agent: *chat_agent,
                    since: seen.1.map(|at| trace_time(at.since(Time::ZERO))),
                });
            }
        }
        traced.retain(|agent, _| current.contains_key(agent));
        (events, next)
    }

    fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
        Uuid::from_u128(rng.gen())
    }

    /// One random change of the rows, as coderd, the provisioner and a
    /// prebuild claim make them.
    fn change(t: &mut Tables, rng: &mut ChaCha8Rng, now: Time) {
        let pick = |rng: &mut ChaCha8Rng, n: usize| (n > 0).then(|| rng.gen_range(0..n));
        match rng.gen_range(0..100) {
            0..=7 => t.workspaces.push(Workspace {
                id: uuid(rng),
                name: format!("ws{}", t.workspaces.len()),
                ..Workspace::default()
            }),
            8..=22 => {
                let Some(w) = pick(rng, t.workspaces.len()) else {
                    return;
                };
                let workspace_id = t.workspaces[w].id;
                let last = t.latest_build(workspace_id).map_or(0, |b| b.build_number);
                t.builds.push(WorkspaceBuild {
                    id: uuid(rng),
                    workspace_id,
                    // Now and then a tie or an older number.
                    build_number: last + rng.gen_range(-1..=1),
                    transition: chatsim_engine::model::Transition::Start,
                    template_version_id: Uuid::nil(),
                    job_id: uuid(rng),
                    initiator_id: Uuid::nil(),
                    created_at: now,
                    rich_parameters: Vec::new(),
                    daily_cost: 0,
                });
            }
            23..=37 => {
                let Some(b) = pick(rng, t.builds.len()) else {
                    return;
                };
                let resource = WorkspaceResource {
                    id: uuid(rng),
                    job_id: t.builds[b].job_id,
                    ..WorkspaceResource::default()
                };
                for _ in 0..rng.gen_range(1..=3) {
                    let parent = pick(rng, t.agents.len()).filter(|_| rng.gen_bool(0.2));
                    t.agents.push(WorkspaceAgent {
                        id: uuid(rng),
                        name: ["main", "dev", "Main", "chat"][rng.gen_range(0..4)].to_string(),
                        resource_id: Some(resource.id),
                        parent_id: parent.map(|p| t.agents[p].id),
                        display_order: rng.gen_range(0..2),
                        created_at: now,
                        connection_timeout_seconds: rng.gen_range(0..3) * 60,
                        ..WorkspaceAgent::default()
                    });
                }
                t.resources.push(resource);
            }
            38..=62 => {
                let Some(a) = pick(rng, t.agents.len()) else {
                    return;
                };
                let row = &mut t.agents[a];
                row.first_connected_at.get_or_insert(now);
                row.last_connected_at = Some(now);
            }
            63..=77 => {
                let Some(a) = pick(rng, t.agents.len()) else {
                    return;
                };
                t.agents[a].disconnected_at = Some(now);
            }
            78..=80 => {
                let Some(w) = pick(rng, t.workspaces.len()) else {
                    return;
                };
                t.workspaces[w].deleted = true;
            }
            81..=84 => {
                // A claim: one job's resources move to another build's job.
                let (Some(from), Some(to)) = (pick(rng, t.builds.len()), pick(rng, t.builds.len()))
                else {
                    return;
                };
                let (from, to) = (t.builds[from].job_id, t.builds[to].job_id);
                for r in t.resources.iter_mut().filter(|r| r.job_id == from) {
                    r.job_id = to;
                }
                t.index.reset();
            }
            _ => {} // only time passes
        }
    }

    #[test]
    fn looks_trace_what_rederiving_every_row_traces() {
        for seed in 0..40 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut t = Tables::default();
            let mut watch = StatusWatch::default();
            let mut traced = BTreeMap::new();
            let mut now = Time::from_secs(1_000);
            let mut events = 0;
            for step in 0..400 {
                now = now + Duration::from_secs(rng.gen_range(0..40));
                for _ in 0..rng.gen_range(0..4) {
                    change(&mut t, &mut rng, now);
                }
                let want = rederive_all(&t, now, &mut traced);
                let got = watch.look(&t, now, TIMEOUT, Time::ZERO);
                assert_eq!(got, want.0, "seed {seed} step {step}");
                assert_eq!(watch.next_change(), want.1, "seed {seed} step {step}");
                events += got.len();
            }
            assert!(events > 10, "seed {seed}: only {events} changes traced");
        }
    }
}
