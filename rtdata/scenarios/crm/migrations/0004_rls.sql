-- Row-level security. Only staff sign in to this app (the app starts realtime only for an
-- authenticated user); the back office and the SLA sweep write with the service role.

alter table public.products enable row level security;
alter table public.customers enable row level security;
alter table public.acquisitions enable row level security;
alter table public.interactions enable row level security;
alter table public.teams enable row level security;
alter table public.agents enable row level security;
alter table public.sla_policies enable row level security;
alter table public.tickets enable row level security;
alter table public.comments enable row level security;
alter table public.attachments enable row level security;

-- Every signed-in staff member reads the CRM and the desk.
create policy "staff read products" on public.products for select to authenticated using (true);
create policy "staff read customers" on public.customers for select to authenticated using (true);
create policy "staff read acquisitions" on public.acquisitions for select to authenticated using (true);
create policy "staff read interactions" on public.interactions for select to authenticated using (true);
create policy "staff read teams" on public.teams for select to authenticated using (true);
create policy "staff read agents" on public.agents for select to authenticated using (true);
create policy "staff read sla policies" on public.sla_policies for select to authenticated using (true);
create policy "staff read tickets" on public.tickets for select to authenticated using (true);
create policy "staff read comments" on public.comments for select to authenticated using (true);
create policy "staff read attachments" on public.attachments for select to authenticated using (true);

-- Agents log their own interactions and write their own comments.
create policy "agents log their interactions" on public.interactions for insert to authenticated
  with check (agent_id = auth.uid());
create policy "agents write their comments" on public.comments for insert to authenticated
  with check (author_id = auth.uid());
create policy "agents attach files" on public.attachments for insert to authenticated
  with check (auth.role() = 'authenticated');

-- An agent works the tickets assigned to them; a lead the tickets of their team.
create policy "agents update their tickets" on public.tickets for update to authenticated
  using (assigned_to = auth.uid());
create policy "leads update their team's tickets" on public.tickets for update to authenticated
  using (team_id = ((auth.jwt() -> 'app_metadata' ->> 'team_id'))::bigint);

-- Admins manage the catalogue.
create policy "admins manage products" on public.products for all to authenticated
  using ((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin')
  with check ((auth.jwt() -> 'app_metadata' ->> 'role') = 'admin');
