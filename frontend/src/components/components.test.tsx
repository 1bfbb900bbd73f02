import { fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { moment, T0, wins } from '../test/fixtures';
import { EmoteCloud, layoutCloud, TopEmotes } from './EmoteCloud';
import { MomentsTimeline } from './MomentsTimeline';
import { RevenuePanel } from './RevenuePanel';
import { Sparkline } from './Sparkline';
import { ConnectionIndicator, LiveBadge } from './ui';

describe('ConnectionIndicator', () => {
  it.each([
    ['live', 'Live'],
    ['polling', 'Live (polling)'],
    ['reconnecting', 'Reconnecting…'],
    ['offline', 'Offline'],
  ] as const)('says %s', (status, text) => {
    render(<ConnectionIndicator status={status} lastUpdate={T0} />);
    const indicator = screen.getByRole('status');
    expect(indicator).toHaveTextContent(text);
    expect(indicator).toHaveAttribute('data-status', status);
    expect(screen.getByTestId('last-update')).toHaveTextContent(/Updated/);
  });
});

describe('LiveBadge', () => {
  it('tells live from offline', () => {
    const { rerender } = render(<LiveBadge live />);
    expect(screen.getByText('Live')).toBeInTheDocument();
    rerender(<LiveBadge live={false} />);
    expect(screen.getByText('Offline')).toBeInTheDocument();
  });
});

describe('MomentsTimeline', () => {
  const moments = [
    moment({ moment_id: 'b', kind: 'chat_spike', description: 'Chat exploded', ongoing: true }),
    moment({ moment_id: 'a', kind: 'raid' }),
  ];

  it('lists moments with their kind and description, and zooms on click or keyboard', async () => {
    const onSelect = vi.fn();
    const { rerender } = render(<MomentsTimeline moments={moments} selectedId={null} onSelect={onSelect} />);
    const items = screen.getAllByTestId('moment');
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent('Chat spike');
    expect(items[0]).toHaveTextContent('Chat exploded');
    expect(items[0]).toHaveTextContent('ongoing');
    expect(items[1]).toHaveTextContent('Raided by tigershadow38');
    await userEvent.click(items[1]!);
    expect(onSelect).toHaveBeenCalledWith(moments[1]);
    items[0]!.focus();
    await userEvent.keyboard('{Enter}');
    expect(onSelect).toHaveBeenLastCalledWith(moments[0]);
    rerender(<MomentsTimeline moments={moments} selectedId="a" onSelect={onSelect} />);
    expect(screen.getAllByTestId('moment')[1]).toHaveAttribute('aria-pressed', 'true');
  });

  it("shows where a moment is in the broadcast, and links to that point of the VOD when it is known", () => {
    const vod = 'https://www.twitch.tv/videos/2223334445?t=1h2m3s';
    render(
      <MomentsTimeline
        moments={[moment({ moment_id: 'v', offset_seconds: 3723, vod_url: vod }), moment({ moment_id: 'w', offset_seconds: 59 }), moment()]}
        selectedId={null}
        onSelect={() => {}}
      />,
    );
    expect(screen.getAllByTestId('moment-offset').map((e) => e.textContent)).toEqual(['1:02:03 into the stream', '0:00:59 into the stream']);
    const [link] = screen.getAllByTestId('moment-vod');
    expect(screen.getAllByTestId('moment-vod')).toHaveLength(1);
    expect(link).toHaveAttribute('href', vod);
    expect(link).toHaveAccessibleName(/Watch on Twitch at 1:02:03/);
  });

  it('has an empty state', () => {
    render(<MomentsTimeline moments={[]} selectedId={null} onSelect={() => {}} />);
    expect(screen.getByText('No moments yet')).toBeInTheDocument();
  });
});

describe('EmoteCloud', () => {
  const emotes = [
    { emote: 'KEKW', count: 40 },
    { emote: 'LUL', count: 20 },
    { emote: 'Pog', count: 5 },
  ];

  it('sizes emotes by count', () => {
    const leaves = layoutCloud(emotes, 400, 200);
    const radius = Object.fromEntries(leaves.map((l) => [l.data.emote, l.r]));
    expect(radius.KEKW).toBeGreaterThan(radius.LUL!);
    expect(radius.LUL).toBeGreaterThan(radius.Pog!);
  });

  it('draws one labelled group per emote, keyed, and describes itself', () => {
    const { container, rerender } = render(<EmoteCloud emotes={emotes} />);
    expect(screen.getByRole('img')).toHaveAccessibleName(/KEKW 40, LUL 20, Pog 5/);
    const labels = () => [...container.querySelectorAll('g.emote')].map((g) => g.getAttribute('data-emote'));
    expect(labels()).toEqual(['KEKW', 'LUL', 'Pog']);
    rerender(<EmoteCloud emotes={[{ emote: 'LUL', count: 50 }, ...emotes.slice(0, 1)]} />);
    // Existing groups are reused (transitions), new ones entered; 'Pog' leaves with a transition.
    expect(container.querySelector('g.emote[data-emote="LUL"]')).toHaveAttribute('data-count', '50');
  });

  it('has an empty state', () => {
    render(<EmoteCloud emotes={[]} />);
    expect(screen.getByText('No emotes in this span yet')).toBeInTheDocument();
  });
});

describe('TopEmotes and revenue', () => {
  it('ranks emotes', () => {
    render(<TopEmotes emotes={[{ emote: 'KEKW', count: 1200 }, { emote: 'LUL', count: 3 }]} />);
    const rows = within(screen.getByRole('list', { name: 'Top emotes' })).getAllByRole('listitem');
    expect(rows[0]).toHaveTextContent(/1KEKW1,200/);
  });

  it('shows totals and transactions by kind', () => {
    render(<RevenuePanel totals={{ revenue: 1234.5, bits: 300, messages: 0, transactions: { sub: 3, bits: 7 } }} spanLabel="last 15 min" />);
    expect(screen.getByTestId('revenue-total')).toHaveTextContent('$1,234.50');
    const rows = within(screen.getByRole('list', { name: 'Transactions by kind' })).getAllByRole('listitem');
    expect(rows.map((r) => r.textContent)).toEqual(['Bits7', 'Subscriptions3']);
  });
});

describe('Sparkline', () => {
  it('draws the values', () => {
    render(<Sparkline values={wins(T0, 5).map((w, i) => w.chat_rate + i)} />);
    const svg = screen.getByTestId('sparkline');
    expect(svg).toHaveAttribute('data-points', '5');
    expect(svg.querySelectorAll('path')).toHaveLength(2);
    fireEvent.mouseOver(svg);
  });
});
