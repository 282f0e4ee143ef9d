-- TechCare: a marketplace where customers book home-service technicians, who bid on the jobs.
-- Reference data and accounts: the cities served, the trades sold, one profile per auth user.

create type public.user_role as enum ('customer', 'technician', 'admin');

create type public.service_category as enum (
  'plumbing', 'electrical', 'hvac', 'appliance_repair', 'locksmith', 'carpentry'
);

create table public.cities (
  id bigint primary key,
  name text not null unique,
  country_code text not null default 'DE',
  lat double precision not null,
  lon double precision not null,
  created_at timestamptz not null default now()
);

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  role public.user_role not null default 'customer',
  full_name text not null,
  email text not null unique,
  phone text,
  city_id bigint references public.cities (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index profiles_role_idx on public.profiles (role);

alter table public.cities enable row level security;
alter table public.profiles enable row level security;

create policy "Anyone signed in reads the cities" on public.cities
  for select to authenticated using (true);

create policy "Users read their own profile" on public.profiles
  for select to authenticated using (id = auth.uid());

create policy "Users update their own profile" on public.profiles
  for update to authenticated using (id = auth.uid()) with check (id = auth.uid());
