import { lazy, Suspense, useEffect } from 'react';
import type { Api } from './api/client';
import { focusRing, LoadingState } from './components/ui';
import { timeZone } from './lib/format';
import { HotPage } from './pages/HotPage';
import { Overview } from './pages/Overview';
import { Link, matchRoute, RouteHeading, useLocation } from './router';

// The stream page (Recharts, D3) loads on demand: the overview stays light.
const StreamPage = lazy(() => import('./pages/StreamPage').then((m) => ({ default: m.StreamPage })));

export function App({ api }: { api?: Api }) {
  const { pathname } = useLocation();
  const route = matchRoute(pathname);
  useEffect(() => {
    document.title =
      route.name === 'stream'
        ? `${route.streamId} · Telemetra`
        : route.name === 'overview'
          ? 'Streams · Telemetra'
          : route.name === 'hot'
            ? 'Hot right now · Telemetra'
            : 'Not found · Telemetra';
  }, [route]);

  return (
    <div className="flex min-h-screen flex-col">
      <a
        href="#main"
        className="sr-only rounded bg-sky-300 px-3 py-2 font-medium text-slate-950 focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50"
      >
        Skip to content
      </a>
      <header className="border-b border-slate-800 bg-slate-950/90">
        <div className="mx-auto flex max-w-[1800px] items-center justify-between gap-4 px-4 py-3 sm:px-6">
          <Link to="/" className={`flex items-center gap-2 rounded text-lg font-bold text-slate-50 ${focusRing}`}>
            <svg viewBox="0 0 32 32" className="size-7" aria-hidden="true">
              <rect width="32" height="32" rx="7" fill="#1e293b" />
              <path d="M5 22l6-8 5 5 5-9 6 6" fill="none" stroke="#a78bfa" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
              <circle cx="27" cy="16" r="2.5" fill="#f43f5e" />
            </svg>
            Telemetra
          </Link>
          <nav aria-label="Main" className="flex gap-1">
            <Link
              to="/"
              aria-current={route.name === 'overview' ? 'page' : undefined}
              className={`rounded px-2 py-1 text-sm font-medium text-slate-200 hover:text-white ${focusRing}`}
            >
              All streams
            </Link>
            <Link
              to="/hot"
              aria-current={route.name === 'hot' ? 'page' : undefined}
              className={`rounded px-2 py-1 text-sm font-medium text-slate-200 hover:text-white ${focusRing}`}
            >
              Hot right now
            </Link>
          </nav>
        </div>
      </header>
      <main id="main" className="mx-auto w-full max-w-[1800px] flex-1 px-4 py-6 sm:px-6">
        {route.name === 'overview' ? (
          <Overview {...(api ? { api } : {})} />
        ) : route.name === 'hot' ? (
          <HotPage {...(api ? { api } : {})} />
        ) : route.name === 'stream' ? (
          <Suspense fallback={<LoadingState label="Loading stream…" />}>
            <StreamPage key={route.streamId} streamId={route.streamId} {...(api ? { api } : {})} />
          </Suspense>
        ) : (
          <div>
            <RouteHeading className="text-2xl font-bold text-slate-50">
              Page not found
            </RouteHeading>
            <p className="mt-2 text-slate-300">
              <Link to="/" className={`text-sky-300 underline ${focusRing}`}>
                Go to the stream overview
              </Link>
            </p>
          </div>
        )}
      </main>
      <footer className="border-t border-slate-800 px-4 py-3 text-center text-xs text-slate-400 sm:px-6">
        Times are shown in your time zone ({timeZone()}). Windows are 60 s long and advance every 10 s.
      </footer>
    </div>
  );
}
