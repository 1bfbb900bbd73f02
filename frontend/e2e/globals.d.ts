// The page's read-only test hook (src/hooks/useStream.ts), as far as the specs use it.
interface E2EWindow {
  window_start: string;
  final: boolean;
}

interface Window {
  __telemetra?: {
    streamId: string;
    state: () => {
      series: { resolution: string; windows: E2EWindow[] };
      recent: E2EWindow[];
      pushes: number;
      status: string;
      lastUpdate: number | null;
    };
  };
}
