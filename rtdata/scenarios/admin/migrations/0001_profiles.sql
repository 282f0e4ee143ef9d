-- Accounts of the clinic's admin console: one profile per auth user, with the role that decides
-- what the user may see and do. Role changes record who made them and when.

create type public.app_role as enum ('user', 'staff', 'admin');

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text not null unique,
  full_name text not null,
  role public.app_role not null default 'user',
  department text,                                 -- front desk | nursing | records | billing | pharmacy
  phone text,
  role_changed_by uuid references public.profiles (id) on delete set null,
  role_changed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index profiles_role_idx on public.profiles (role);

alter table public.profiles enable row level security;

create policy "Users read their own profile" on public.profiles
  for select to authenticated using (id = auth.uid());

create policy "Users update their own profile" on public.profiles
  for update to authenticated using (id = auth.uid()) with check (id = auth.uid());
