// A minimal client-side router: two routes, History API, real <a href> links (so middle-click, copy link
// and keyboard activation work). The embedded server falls back to index.html for these paths.
import { useEffect, useRef, useSyncExternalStore, type AnchorHTMLAttributes, type HTMLAttributes, type MouseEvent } from 'react';

const EVENT = 'telemetra:navigate';

function subscribe(callback: () => void): () => void {
  window.addEventListener('popstate', callback);
  window.addEventListener(EVENT, callback);
  return () => {
    window.removeEventListener('popstate', callback);
    window.removeEventListener(EVENT, callback);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export function useLocation(): { pathname: string; search: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, snapshot, snapshot);
  const url = new URL(href, 'http://local');
  return { pathname: url.pathname, search: url.searchParams };
}

// Set when a navigation changes the page: the next page heading to mount takes the focus, so keyboard and
// screen-reader users land on the new page instead of on a link that no longer exists.
let focusPending = false;

export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (new URL(to, window.location.href).pathname !== window.location.pathname) focusPending = true;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(EVENT));
}

export type Route = { name: 'overview' } | { name: 'hot' } | { name: 'stream'; streamId: string } | { name: 'not-found' };

export function matchRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '/index.html') return { name: 'overview' };
  if (pathname === '/hot' || pathname === '/hot/') return { name: 'hot' };
  const match = /^\/streams\/([a-z0-9_-]{1,64})\/?$/.exec(pathname);
  if (match) return { name: 'stream', streamId: match[1]! };
  return { name: 'not-found' };
}

export function Link({ to, onClick, ...props }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...props} />;
}

/** The page's h1: focused after a client-side navigation to the page (not on the first load). */
export function RouteHeading({ children, className = '', ...props }: HTMLAttributes<HTMLHeadingElement>) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (focusPending && ref.current) {
      focusPending = false;
      ref.current.focus();
    }
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} data-route-heading className={`outline-none ${className}`} {...props}>
      {children}
    </h1>
  );
}
