-- Realtime (src/utils/realtimeService.js). The six tables of the design document's publication:
-- bookings, bids and technicians for every change; messages, notifications and payments for
-- INSERT only. A Postgres publication cannot publish one event for one table and all for
-- another (`publish = 'insert'` is a setting of the whole publication, and Supabase Realtime
-- reads only supabase_realtime), so INSERT-only is kept by the tables themselves: messages and
-- notifications are append-only (0004) and payments a ledger (0005); the app subscribes to
-- their INSERT events.
alter publication supabase_realtime add table public.bookings, public.messages,
  public.notifications, public.bids, public.technicians, public.payments;

-- The admin screens subscribe to profiles (AdminDashboard, INSERT) and reviews
-- (ReviewModeration, INSERT), which the publication above leaves out: without this they would
-- subscribe and hear nothing.
alter publication supabase_realtime add table public.profiles, public.reviews;

-- The operations dashboard (rtdata) follows the cities too, to show city ids by name; the app
-- itself never subscribes to them.
alter publication supabase_realtime add table public.cities;

-- The dashboards compare a booking's and a technician's old and new status (and a bid's):
-- without the full old row, old_record carries only the primary key.
alter table public.bookings replica identity full;
alter table public.technicians replica identity full;
alter table public.bids replica identity full;
