-- Technicians: the profile of a user with the technician role, the trades they take on, whether
-- an admin has verified them (TechVerification), and where they are while signed in to the app.

create type public.technician_status as enum ('offline', 'available', 'on_job');

create table public.technicians (
  id uuid primary key references public.profiles (id) on delete cascade,
  display_name text not null,                      -- shown to customers on bids and bookings
  city_id bigint not null references public.cities (id),
  skills public.service_category[] not null,
  hourly_rate numeric(8, 2) not null,              -- EUR
  is_verified boolean not null default false,
  verified_at timestamptz,
  status public.technician_status not null default 'offline',
  lat double precision,                            -- last known position, from the app's GPS
  lon double precision,
  location_updated_at timestamptz,
  rating numeric(3, 2),                            -- average of the reviews, null before the first
  reviews_count integer not null default 0,
  jobs_completed integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint technicians_verified_stamped check (not is_verified or verified_at is not null),
  constraint technicians_rating_range check (rating is null or rating between 1 and 5)
);

create index technicians_city_id_status_idx on public.technicians (city_id, status);
create index technicians_unverified_idx on public.technicians (created_at) where not is_verified;

alter table public.technicians enable row level security;

create policy "Anyone signed in reads the technicians" on public.technicians
  for select to authenticated using (auth.role() = 'authenticated');

create policy "Technicians update their own row" on public.technicians
  for update to authenticated using (id = auth.uid()) with check (id = auth.uid());
