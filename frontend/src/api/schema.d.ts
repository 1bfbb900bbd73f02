/**
 * Generated from the Telemetra API's OpenAPI document (src/api/openapi.json) by openapi-typescript.
 * Do not edit: run `npm run openapi:generate` (after `npm run openapi:dump` when the service changed).
 * `npm run openapi:check` and the Vitest suite fail when this file is stale.
 */

export interface paths {
    "/api/v1/admin/alerts/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The delivery log: one row per alert (moment × destination), most recently updated first (scope: admin) */
        get: operations["list_alert_deliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/alerts/deliveries/{moment_id}/{destination}/attempts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One alert and every attempt to deliver it, oldest first (scope: admin) */
        get: operations["get_alert_delivery_attempts"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/alerts/deliveries/{moment_id}/{destination}/requeue": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Send a dead alert again (scope: admin)
         * @description A dead letter goes back to pending with its attempts reset; a dispatcher sends it next.
         */
        post: operations["requeue_alert_delivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/admin/streams/{stream_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Delete a stream's history and live state (scope: admin) */
        delete: operations["delete_stream"];
        options?: never;
        head?: never;
        /**
         * Set a stream's title and/or category (scope: write)
         * @description Only the fields sent change; `null` clears one. Control characters (other than tab and line breaks) are refused with 422.
         */
        patch: operations["update_stream"];
        trace?: never;
    };
    "/api/v1/admin/streams/{stream_id}/alerts": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A stream's alert config (scope: admin) */
        get: operations["get_stream_alerts"];
        /**
         * Set a stream's alert config (scope: admin)
         * @description The body is what a TelemetraStream's `spec.alerts` holds: destinations (secrets by reference: `urlFrom`, `signingSecretFrom` name a Secret key or an env variable of the dispatcher) and rules. Applies to moments offered from the next refresh of the configs on (a few seconds). 422 names the field at fault (never its value); 409 when a TelemetraStream manages the stream's alerts.
         */
        put: operations["put_stream_alerts"];
        post?: never;
        /**
         * Remove a stream's alert config (scope: admin)
         * @description The stream alerts nothing from the next refresh of the configs on; alerts already queued are still delivered.
         */
        delete: operations["delete_stream_alerts"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/dead-letters": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Stored dead letters, newest first, with reason and source position */
        get: operations["dead_letters"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/hot": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Live streams ranked by hype: chat rate against their own baseline, moments in the last minutes */
        get: operations["hot_streams"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/streams": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Streams with live flag, current viewers and chat rate, last activity and latest moment */
        get: operations["list_streams"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/streams/{stream_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** One stream: summary, newest closed window, open window, recent moments */
        get: operations["get_stream"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/streams/{stream_id}/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Window metrics in [from, to), oldest first */
        get: operations["stream_metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/api/v1/streams/{stream_id}/moments": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Moments overlapping [from, to), newest first */
        get: operations["stream_moments"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process answers */
        get: operations["health"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: the store and the cache are reachable */
        get: operations["ready"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * AlertConfig
         * @description A stream's alerting: its destinations and the rules that route moments to them.
         */
        AlertConfig: {
            /**
             * Destinations
             * @description Where alerts may go.
             */
            destinations?: components["schemas"]["Destination"][];
            /**
             * Rules
             * @description Which moments alert which destinations.
             */
            rules?: components["schemas"]["Rule"][];
        };
        /** AttemptOut */
        AttemptOut: {
            /**
             * At
             * Format: date-time
             */
            at: string;
            /**
             * Attempt
             * @description 1 for a version's first try.
             */
            attempt: number;
            /** Duration Ms */
            duration_ms: number;
            /**
             * Error
             * @description What went wrong (never a URL or a secret).
             */
            error: string | null;
            /**
             * Outcome
             * @enum {string}
             */
            outcome: "delivered" | "retry" | "dead";
            /** Revision */
            revision: number;
            /**
             * Status
             * @description The destination's HTTP status, if it answered.
             */
            status: number | null;
        };
        /** Check */
        Check: {
            /** Backend */
            backend: string;
            /** Latency Ms */
            latency_ms?: number | null;
            /** Reason */
            reason?: string | null;
            /**
             * Status
             * @enum {string}
             */
            status: "up" | "down";
        };
        /**
         * DeadLetterOut
         * @description An input that broke the contract: why, where it was read, and the input itself.
         */
        DeadLetterOut: {
            /** Letter Id */
            letter_id: string;
            /**
             * Raw
             * @description The input, as UTF-8 text or base64 (`raw_encoding`).
             */
            raw: string | null;
            /** Raw Bytes */
            raw_bytes: number;
            /**
             * Raw Encoding
             * @enum {string}
             */
            raw_encoding: "utf-8" | "base64";
            /** Raw Truncated */
            raw_truncated: boolean;
            /** Reason */
            reason: string;
            /**
             * Source
             * @description Where it was read: `topic:partition:offset`, `bus:n` or `file:line`.
             */
            source: string;
            /**
             * Stored At
             * Format: date-time
             */
            stored_at: string;
            /**
             * Stream Id
             * @description The stream it was sent to, when known.
             */
            stream_id: string | null;
        };
        /** DeadLettersPage */
        DeadLettersPage: {
            /**
             * Items
             * @description Newest first.
             */
            items: components["schemas"]["DeadLetterOut"][];
        };
        /** DeliveriesPage */
        DeliveriesPage: {
            /**
             * Items
             * @description Most recently updated first.
             */
            items: components["schemas"]["DeliveryOut"][];
            /**
             * Next Cursor
             * @description Pass as `cursor` (with the same filters) for the next page.
             */
            next_cursor: string | null;
        };
        /** DeliveryAttempts */
        DeliveryAttempts: {
            /**
             * Attempts
             * @description Oldest first.
             */
            attempts: components["schemas"]["AttemptOut"][];
            delivery: components["schemas"]["DeliveryOut"];
        };
        /**
         * DeliveryOut
         * @description One alert: a moment for one destination, and where its delivery stands.
         */
        DeliveryOut: {
            /**
             * Attempts
             * @description Failed attempts of the current version.
             */
            attempts: number;
            /**
             * Created At
             * Format: date-time
             */
            created_at: string;
            /** Delivered At */
            delivered_at: string | null;
            /** Destination */
            destination: string;
            /** Kind */
            kind: string;
            /** Moment Id */
            moment_id: string;
            /**
             * Next Attempt At
             * Format: date-time
             */
            next_attempt_at: string;
            /**
             * Reason
             * @description Why suppressed or dead; the last error while retrying.
             */
            reason: string | null;
            /**
             * Remote Id
             * @description The destination's message id (Discord), to edit it.
             */
            remote_id: string | null;
            /**
             * Revision
             * @description Versions of the moment seen (it grows).
             */
            revision: number;
            /**
             * Sent Revision
             * @description The version last delivered (0: none yet).
             */
            sent_revision: number;
            /**
             * State
             * @enum {string}
             */
            state: "pending" | "delivered" | "dead" | "suppressed";
            /** Stream Id */
            stream_id: string;
            /**
             * Updated At
             * Format: date-time
             */
            updated_at: string;
        };
        /**
         * Destination
         * @description Where alerts go. ``webhook``: a JSON POST signed with HMAC-SHA256 (see ``payloads``); ``discord``: an
         *     embed, edited in place when the moment grows; ``slack``: Block Kit through an incoming webhook (which cannot
         *     edit a message: a moment that grows is not sent again).
         */
        Destination: {
            /**
             * Name
             * @description Unique within the stream; with the moment id, the idempotency key of an alert.
             */
            name: string;
            /** @description At most so many new alerts per window; default: no limit. */
            rateLimit?: components["schemas"]["RateLimit"] | null;
            /** @description A generic webhook's HMAC-SHA256 key (required for webhook, not used by Discord or Slack). */
            signingSecretFrom?: components["schemas"]["SecretRef"] | null;
            /**
             * Type
             * @description webhook, discord or slack.
             * @enum {string}
             */
            type: "webhook" | "discord" | "slack";
            /**
             * Url
             * @description A generic webhook's URL, inline (http or https, no credentials in it). Not allowed for Discord and
             *     Slack, whose URLs carry their token: use urlFrom.
             */
            url?: string | null;
            /** @description The URL from a Secret or an env variable. */
            urlFrom?: components["schemas"]["SecretRef"] | null;
        };
        /** ErrorBody */
        ErrorBody: {
            /** Detail */
            detail: string;
            /** Request Id */
            request_id: string;
        };
        /** FieldError */
        FieldError: {
            /**
             * Loc
             * @description Where: e.g. ["query", "limit"] or ["path", "stream_id"].
             */
            loc: (string | number)[];
            /** Msg */
            msg: string;
            /** Type */
            type: string;
        };
        /** Health */
        Health: {
            /**
             * Status
             * @constant
             */
            status: "ok";
        };
        /** HotList */
        HotList: {
            /**
             * Categories
             * @description Categories of all live streams (ignoring `category`), for a filter.
             */
            categories: string[];
            /**
             * Items
             * @description Live streams, greatest `hype` first, the id breaking ties.
             */
            items: components["schemas"]["HotStream"][];
            /**
             * Minutes
             * @description The recent minutes counted, as asked.
             */
            minutes: number;
            /**
             * Next Cursor
             * @description Pass as `cursor` (with the same `minutes`, `category` and `limit`) for the next page; null on the last.
             */
            next_cursor: string | null;
        };
        /**
         * HotStream
         * @description A live stream in the cross-channel view: what its hype is made of.
         */
        HotStream: {
            /**
             * Baseline Chat Rate
             * @description Its own normal: the mean chat rate of its windows in the hour before the recent minutes; null without any.
             */
            baseline_chat_rate: number | null;
            /**
             * Best Rank
             * @description The highest `rank` among those; null without any.
             */
            best_rank: number | null;
            /** Category */
            category: string | null;
            /**
             * Chat Rate
             * @description Messages per second in its newest closed window.
             */
            chat_rate: number | null;
            /**
             * Chat Ratio
             * @description `chat_rate` over `baseline_chat_rate` (at least 0.1 msg/s): 1 is normal.
             */
            chat_ratio: number | null;
            /**
             * Hype
             * @description `chat_ratio` (0 without one) + `moments` + log2(1 + `best_rank`): what the list is sorted by.
             */
            hype: number;
            /**
             * Last Activity
             * Format: date-time
             */
            last_activity: string;
            /**
             * Moments
             * @description Moments under way in the last `minutes`.
             */
            moments: number;
            /** Stream Id */
            stream_id: string;
            /** Title */
            title: string | null;
            /**
             * Viewers
             * @description Of its newest closed window.
             */
            viewers: number | null;
        };
        /** MetricsPage */
        MetricsPage: {
            /**
             * Items
             * @description Oldest first.
             */
            items: components["schemas"]["WindowOut"][];
            /**
             * Next Cursor
             * @description Pass as `cursor` (with the same filters) for the next page.
             */
            next_cursor: string | null;
            /**
             * Resolution
             * @enum {string}
             */
            resolution: "10s" | "1m" | "5m";
            /** Stream Id */
            stream_id: string;
        };
        /**
         * MomentOut
         * @description One anomaly episode; re-emitted (same id) while it grows.
         */
        MomentOut: {
            /** Baseline */
            baseline: number;
            /** Description */
            description: string;
            /**
             * Detected At
             * Format: date-time
             */
            detected_at: string;
            /**
             * End
             * Format: date-time
             */
            end: string;
            /**
             * Kind
             * @enum {string}
             */
            kind: "chat_spike" | "viewer_surge" | "viewer_drop" | "sentiment_swing" | "revenue_spike" | "raid";
            /** Metric */
            metric: string;
            /** Moment Id */
            moment_id: string;
            /**
             * Offset Seconds
             * @description Whole seconds from the stream's start (its stream_meta start event, else its first event) to the moment's start: where it is in the broadcast's recording. Absent on moments stored before it existed.
             */
            offset_seconds?: number | null;
            /** Ongoing */
            ongoing: boolean;
            /**
             * Peak At
             * Format: date-time
             */
            peak_at: string;
            /**
             * Rank
             * @description How much the moment stands out, to show the best first (higher is better): how unusual (log2(1 + |score|)) × how large (|log2(value / baseline)|) × how many chatters joined in (log2(2 + distinct chatters)). Absent on moments stored before it existed.
             */
            rank?: number | null;
            /** Score */
            score: number;
            /**
             * Start
             * Format: date-time
             */
            start: string;
            /** Stream Id */
            stream_id: string;
            /** Threshold */
            threshold: number;
            /** Value */
            value: number;
            /**
             * Vod Url
             * @description A link to the moment's point of the Twitch VOD (https://www.twitch.tv/videos/<id>?t=1h2m3s), when the broadcast's VOD id is known (stream_meta vod_id).
             */
            vod_url?: string | null;
        };
        /** MomentsPage */
        MomentsPage: {
            /**
             * Items
             * @description Newest first.
             */
            items: components["schemas"]["MomentOut"][];
            /** Next Cursor */
            next_cursor: string | null;
            /** Stream Id */
            stream_id: string;
        };
        /**
         * RateLimit
         * @description At most ``max`` new alerts to a destination within any ``perSeconds``; more are suppressed (and logged as
         *     such). Updates of an alert already sent (a moment that grows) do not count.
         */
        RateLimit: {
            /**
             * Max
             * @description Alerts allowed in the window.
             */
            max: number;
            /**
             * Perseconds
             * @description Length of the window in seconds.
             * @default 3600
             */
            perSeconds: number;
        };
        /** Readiness */
        Readiness: {
            /** Checks */
            checks: {
                [key: string]: components["schemas"]["Check"];
            };
            /**
             * Reason
             * @description Which dependency is unavailable.
             */
            reason?: string | null;
            /**
             * Status
             * @enum {string}
             */
            status: "ready" | "unavailable";
        };
        /**
         * Rule
         * @description Which moments alert which destinations.
         */
        Rule: {
            /**
             * Destinations
             * @description Names of the stream's destinations.
             */
            destinations: string[];
            /**
             * Kinds
             * @description Moment kinds that alert; empty: every kind.
             */
            kinds?: string[];
            /**
             * Minscore
             * @description Only moments whose score is at least this (0: every moment, including those without a score).
             * @default 0
             */
            minScore: number;
            /**
             * Name
             * @description Unique within the stream.
             */
            name: string;
            /**
             * Quiethours
             * @description UTC ranges, HH:MM-HH:MM (may wrap midnight), in which new alerts are suppressed.
             */
            quietHours?: string[];
        };
        /**
         * SecretRef
         * @description Where a secret value lives: a key of a Kubernetes Secret (mounted into the dispatcher's pod) or an
         *     environment variable (the embedded demo, ``make stack``). Exactly one of the two.
         */
        SecretRef: {
            /**
             * Env
             * @description An environment variable of the dispatcher instead of a Secret.
             */
            env?: string | null;
            /**
             * Key
             * @description Key in the Secret.
             */
            key?: string | null;
            /**
             * Name
             * @description Name of the Secret (in the stream's namespace).
             */
            name?: string | null;
        };
        /**
         * StreamAlerts
         * @description A stream's alerting as stored, read by every process that offers moments within a few seconds.
         */
        StreamAlerts: {
            /** @description Destinations and rules, as in a TelemetraStream's `spec.alerts`. */
            config: components["schemas"]["AlertConfig"];
            /**
             * Origin
             * @description Who set it: `api`, `file` (`telemetra demo --alerts`) or `resource:<namespace>/<name>` (a TelemetraStream's `spec.alerts`, managed by the operator).
             */
            origin: string;
            /** Stream Id */
            stream_id: string;
            /**
             * Updated At
             * Format: date-time
             */
            updated_at: string;
        };
        /** StreamDetail */
        StreamDetail: {
            /** Category */
            category: string | null;
            /**
             * Chat Rate
             * @description Current messages per second.
             */
            chat_rate: number | null;
            /**
             * Dead Letters
             * @description Stored dead letters (inputs that broke the contract).
             */
            dead_letters: number;
            /**
             * Degraded
             * @description Backends that could not be read for this answer.
             */
            degraded: string[];
            /**
             * Last Activity
             * @description When the engine last reported the stream.
             */
            last_activity: string | null;
            latest_moment: components["schemas"]["MomentOut"] | null;
            /** @description The newest closed window. */
            latest_window: components["schemas"]["WindowOut"] | null;
            /**
             * Live
             * @description The engine reported activity within the live threshold.
             */
            live: boolean;
            /** @description The provisional view of the open window, while live. */
            live_window: components["schemas"]["WindowOut"] | null;
            /**
             * Recent Moments
             * @description Newest first.
             */
            recent_moments: components["schemas"]["MomentOut"][];
            /**
             * Slide Seconds
             * @description How often a new window starts (the finest resolution).
             */
            slide_seconds: number;
            /** Stream Id */
            stream_id: string;
            /** Title */
            title: string | null;
            /**
             * Viewers
             * @description Current viewers (open window, else the last closed one).
             */
            viewers: number | null;
            /**
             * Window Seconds
             * @description Length of the stream's windows.
             */
            window_seconds: number;
        };
        /** StreamList */
        StreamList: {
            /**
             * Degraded
             * @description Backends that could not be read for this answer.
             */
            degraded: string[];
            /**
             * Items
             * @description In the order of `sort`. With `live`, a page may hold fewer than `limit` (see `live`).
             */
            items: components["schemas"]["StreamSummary"][];
            /**
             * Live Total
             * @description Of those, how many are live; as `total`.
             */
            live_total: number | null;
            /**
             * Next Cursor
             * @description Pass as `cursor` (with the same `sort`, `q`, `live` and `limit`) for the next page; null on the last.
             */
            next_cursor: string | null;
            /**
             * Total
             * @description Streams matching `q` and `live`, counted for the first page (no `cursor`), else null.
             */
            total: number | null;
        };
        /**
         * StreamMetaIn
         * @description Only the fields sent change; `null` clears one.
         */
        StreamMetaIn: {
            /** Category */
            category?: string | null;
            /** Title */
            title?: string | null;
        };
        /** StreamSummary */
        StreamSummary: {
            /** Category */
            category: string | null;
            /**
             * Chat Rate
             * @description Current messages per second.
             */
            chat_rate: number | null;
            /**
             * Last Activity
             * @description When the engine last reported the stream.
             */
            last_activity: string | null;
            latest_moment: components["schemas"]["MomentOut"] | null;
            /**
             * Live
             * @description The engine reported activity within the live threshold.
             */
            live: boolean;
            /**
             * Slide Seconds
             * @description How often a new window starts (the finest resolution).
             */
            slide_seconds: number;
            /** Stream Id */
            stream_id: string;
            /** Title */
            title: string | null;
            /**
             * Viewers
             * @description Current viewers (open window, else the last closed one).
             */
            viewers: number | null;
            /**
             * Window Seconds
             * @description Length of the stream's windows.
             */
            window_seconds: number;
        };
        /** TopEmote */
        TopEmote: {
            /** Count */
            count: number;
            /** Emote */
            emote: string;
        };
        /** ValidationErrorBody */
        ValidationErrorBody: {
            /** Detail */
            detail: components["schemas"]["FieldError"][];
            /** Request Id */
            request_id: string;
        };
        /**
         * WindowOut
         * @description One stream's metrics over one window ``[window_start, window_end)``.
         */
        WindowOut: {
            /** Bits */
            bits: number;
            /**
             * Chat Rate
             * @description Messages per second.
             */
            chat_rate: number;
            /** Emote Total */
            emote_total: number;
            /**
             * Final
             * @description False for the provisional view of a window that is still open.
             */
            final: boolean;
            /**
             * Late Events
             * @description Events dropped as late since the previous window closed.
             */
            late_events: number;
            /**
             * Messages
             * @description Chat messages in the window.
             */
            messages: number;
            /** Negative */
            negative: number;
            /** Neutral */
            neutral: number;
            /** Positive */
            positive: number;
            /** Revenue Usd */
            revenue_usd: number;
            /**
             * Sentiment
             * @description Mean chat sentiment; null without messages.
             */
            sentiment: number | null;
            /** Stream Id */
            stream_id: string;
            /** Top Emotes */
            top_emotes: components["schemas"]["TopEmote"][];
            /**
             * Transactions
             * @description Transaction counts by kind.
             */
            transactions: {
                [key: string]: number;
            };
            /** Unique Chatters */
            unique_chatters: number;
            /**
             * Viewers
             * @description Last viewer count sampled in the window.
             */
            viewers: number | null;
            /** Viewers Max */
            viewers_max: number | null;
            /**
             * Window End
             * Format: date-time
             */
            window_end: string;
            /**
             * Window Start
             * Format: date-time
             */
            window_start: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    list_alert_deliveries: {
        parameters: {
            query?: {
                /** @description `next_cursor` of the previous page. */
                cursor?: string | null;
                /** @description Page size (1–500). */
                limit?: number;
                /** @description Only alerts in this state. */
                state?: ("pending" | "delivered" | "dead" | "suppressed") | null;
                /** @description Only this stream's alerts. */
                stream_id?: string | null;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveriesPage"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    get_alert_delivery_attempts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The destination's name in the stream's config. */
                destination: string;
                /** @description The moment's id. */
                moment_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryAttempts"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No alert with that key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    requeue_alert_delivery: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The destination's name in the stream's config. */
                destination: string;
                /** @description The moment's id. */
                moment_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryOut"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description No dead alert with that key. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    delete_stream: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Unknown stream. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    update_stream: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["StreamMetaIn"];
            };
        };
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StreamDetail"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Unknown stream. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Request body too large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    get_stream_alerts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StreamAlerts"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The stream has no alert config. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    put_stream_alerts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["AlertConfig"];
            };
        };
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StreamAlerts"];
                };
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description A TelemetraStream manages this stream's alerts. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Request body too large. */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    delete_stream_alerts: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Missing or invalid bearer token. */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The token lacks the required scope. */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description The stream has no alert config. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description A TelemetraStream manages this stream's alerts. */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    dead_letters: {
        parameters: {
            query?: {
                /** @description Page size (1–1000). */
                limit?: number;
                /** @description Only those sent to this stream. */
                stream_id?: string | null;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeadLettersPage"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    hot_streams: {
        parameters: {
            query?: {
                /** @description Only streams in this category (case-insensitive, exact): one of the answer's `categories`. */
                category?: string | null;
                /** @description `next_cursor` of the previous page. */
                cursor?: string | null;
                /** @description Page size (1–1000). */
                limit?: number;
                /** @description How far back moments count (and where the baseline period ends), in minutes. */
                minutes?: number;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HotList"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    list_streams: {
        parameters: {
            query?: {
                /** @description `next_cursor` of the previous page. */
                cursor?: string | null;
                /** @description Page size (1–1000). */
                limit?: number;
                /** @description Only live (true) or only offline (false) streams, by the store's last report of each: while the store lags the live cache by more than the live threshold, a stream may be in neither, and a page may hold fewer than `limit`. */
                live?: boolean | null;
                /** @description Case-insensitive substring of the stream id, title or category (`%` and `_` match themselves). */
                q?: string | null;
                /** @description `stream_id` (the default); or greatest first, the id breaking ties: `-viewers` and `-chat_rate` (of the newest closed window, so they may lag the current numbers shown by up to a window's slide; streams without one last), `-last_activity` (the engine's last report). */
                sort?: "stream_id" | "-viewers" | "-chat_rate" | "-last_activity";
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StreamList"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    get_stream: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["StreamDetail"];
                };
            };
            /** @description Unknown stream. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    stream_metrics: {
        parameters: {
            query?: {
                /** @description `next_cursor` of the previous page. */
                cursor?: string | null;
                /** @description Inclusive start, RFC 3339 with offset. */
                from?: string | null;
                /** @description Page size (1–1000). */
                limit?: number;
                /** @description `10s`: every window as stored, one per slide (the stream's `window_seconds` long, one every `slide_seconds`; 60 s and 10 s by default); `1m` and `5m`: the stream's non-overlapping windows merged into buckets of that length (sums exact; unique chatters and top emotes approximate); 422 when the stream's window length does not divide the resolution. */
                resolution?: "10s" | "1m" | "5m";
                /** @description Exclusive end, RFC 3339 with offset. */
                to?: string | null;
            };
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["MetricsPage"];
                };
            };
            /** @description Unknown stream. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    stream_moments: {
        parameters: {
            query?: {
                /** @description `next_cursor` of the previous page. */
                cursor?: string | null;
                /** @description Inclusive start, RFC 3339 with offset. */
                from?: string | null;
                /** @description Repeat to select several kinds. */
                kind?: ("chat_spike" | "viewer_surge" | "viewer_drop" | "sentiment_swing" | "revenue_spike" | "raid")[] | null;
                /** @description Page size (1–1000). */
                limit?: number;
                /** @description Exclusive end, RFC 3339 with offset. */
                to?: string | null;
            };
            header?: never;
            path: {
                /** @description Channel slug: lowercase letters, digits, `_` and `-`. */
                stream_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["MomentsPage"];
                };
            };
            /** @description Unknown stream. */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
            /** @description Invalid parameter; `loc` names the field. */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ValidationErrorBody"];
                };
            };
            /** @description A backend is unavailable; `detail` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ErrorBody"];
                };
            };
        };
    };
    health: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
        };
    };
    ready: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Successful Response */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Readiness"];
                };
            };
            /** @description A dependency is unavailable; `reason` says which. */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Readiness"];
                };
            };
        };
    };
}
