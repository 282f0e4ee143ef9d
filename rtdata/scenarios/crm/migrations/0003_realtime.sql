-- The tables the app subscribes to (one channel per table), and the reference tables the
-- dashboard labels them with.

alter publication supabase_realtime add table public.products, public.customers,
  public.acquisitions, public.interactions, public.tickets, public.comments,
  public.attachments, public.teams, public.agents, public.sla_policies;

-- Ticket updates carry the old status, so "open -> assigned" needs no earlier copy of the row.
alter table public.tickets replica identity full;
