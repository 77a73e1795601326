--
-- PostgreSQL database dump
--

\restrict mynDvXgCManQFzzfT3tuZhQB75Oye9hS8UPVFruG7l7RMkwE2ShEziB8jtdoQea

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--



--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--



--
-- Name: audit_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.audit_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only';
END
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.attempts (
    id bigint NOT NULL,
    delivery_id bigint NOT NULL,
    number integer NOT NULL,
    started_at bigint NOT NULL,
    finished_at bigint NOT NULL,
    outcome text NOT NULL,
    error text,
    details text
);


--
-- Name: attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit (
    id bigint NOT NULL,
    at bigint NOT NULL,
    correlation_id text,
    actor text NOT NULL,
    action text NOT NULL,
    subject text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    mac text
);


--
-- Name: cursors; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.cursors (
    connector text NOT NULL,
    stream text NOT NULL,
    cursor text,
    updated_at bigint NOT NULL
);


--
-- Name: dead_letters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dead_letters (
    delivery_id bigint NOT NULL,
    dead_at bigint NOT NULL,
    error_class text NOT NULL,
    reason text NOT NULL
);


--
-- Name: deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.deliveries (
    id bigint NOT NULL,
    event_id bigint NOT NULL,
    route text NOT NULL,
    target text NOT NULL,
    tenant text,
    ordering_key text,
    state text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at bigint NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    last_error text,
    last_error_class text,
    external_id text,
    waiting_for text,
    CONSTRAINT deliveries_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'delivered'::text, 'dead'::text, 'discarded'::text])))
);


--
-- Name: deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    idempotency_key text NOT NULL,
    connector text NOT NULL,
    type text NOT NULL,
    object_type text NOT NULL,
    object_id text NOT NULL,
    tenant text,
    entity text,
    correlation_id text NOT NULL,
    ordering_key text,
    received_at bigint NOT NULL,
    refs text NOT NULL,
    payload bytea NOT NULL
);


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: intake_rejects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.intake_rejects (
    id bigint NOT NULL,
    connector text NOT NULL,
    stream text,
    rejected_at bigint NOT NULL,
    reason text NOT NULL,
    payload bytea NOT NULL
);


--
-- Name: intake_rejects_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.intake_rejects ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.intake_rejects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: links; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.links (
    connector text NOT NULL,
    canonical_id text NOT NULL,
    object_type text NOT NULL,
    source_id text NOT NULL,
    external_id text NOT NULL,
    updated_at bigint NOT NULL
);


--
-- Name: reconcile_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.reconcile_runs (
    id bigint NOT NULL,
    name text NOT NULL,
    started_at bigint NOT NULL,
    finished_at bigint NOT NULL,
    outcome text NOT NULL,
    drift integer NOT NULL,
    report bytea NOT NULL,
    CONSTRAINT reconcile_runs_outcome_check CHECK ((outcome = ANY (ARRAY['clean'::text, 'drift'::text, 'failed'::text])))
);


--
-- Name: reconcile_runs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.reconcile_runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.reconcile_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Name: secrets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.secrets (
    connector text NOT NULL,
    name text NOT NULL,
    version integer NOT NULL,
    sealed bytea NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    updated_by text NOT NULL
);


--
-- Name: source_stats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.source_stats (
    connector text NOT NULL,
    duplicates bigint DEFAULT 0 NOT NULL
);


--
-- Name: vault_meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vault_meta (
    name text NOT NULL,
    sealed bytea NOT NULL
);


--
-- Name: webhook_replays; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_replays (
    connector text NOT NULL,
    replay_key text NOT NULL,
    seen_at bigint NOT NULL
);


--
-- Data for Name: attempts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.attempts (id, delivery_id, number, started_at, finished_at, outcome, error, details) FROM stdin;
1	1	1	1796624447045	1796624447052	delivered	\N	\N
2	2	1	1796624447046	1796624447053	transient	fault: fail-match :customer: transient	\N
3	5	1	1796624447045	1796624447052	delivered	\N	\N
4	6	1	1796624447046	1796624447053	transient	fault: fail-match :customer: transient	\N
5	10	1	1796624447046	1796624447053	transient	fault: fail-match :customer: transient	\N
6	9	1	1796624447045	1796624447052	delivered	\N	\N
7	3	1	1796624447075	1796624447079	delivered	\N	\N
8	7	1	1796624447075	1796624447079	delivered	\N	\N
9	11	1	1796624447075	1796624447079	delivered	\N	\N
10	4	1	1796624447093	1796624447096	permanent	fault: fail-match :payment: permanent	\N
11	2	2	1796624447104	1796624447106	transient	fault: fail-match :customer: transient	\N
12	8	1	1796624447093	1796624447096	permanent	fault: fail-match :payment: permanent	\N
13	12	1	1796624447093	1796624447096	permanent	fault: fail-match :payment: permanent	\N
14	6	2	1796624447118	1796624447120	transient	fault: fail-match :customer: transient	\N
15	10	2	1796624447118	1796624447120	transient	fault: fail-match :customer: transient	\N
16	2	3	1796624448127	1796624448128	transient	fault: fail-match :customer: transient	\N
17	6	3	1796624448333	1796624448334	transient	fault: fail-match :customer: transient	\N
18	2	4	1796624448537	1796624448538	transient	fault: fail-match :customer: transient	\N
19	6	4	1796624448744	1796624448745	transient	fault: fail-match :customer: transient	\N
20	2	5	1796624448949	1796624448950	transient	fault: fail-match :customer: transient	\N
21	2	6	1796624449155	1796624449156	transient	fault: fail-match :customer: transient	\N
22	2	7	1796624449363	1796624449364	transient	fault: fail-match :customer: transient	\N
23	6	5	1796624449570	1796624449572	transient	fault: fail-match :customer: transient	\N
24	2	8	1796624449777	1796624449778	transient	fault: fail-match :customer: transient	\N
25	2	9	1796624449981	1796624449982	transient	fault: fail-match :customer: transient	\N
26	2	10	1796624450187	1796624450188	transient	fault: fail-match :customer: transient	\N
27	2	11	1796624450394	1796624450395	transient	fault: fail-match :customer: transient	\N
28	2	12	1796624450602	1796624450604	transient	fault: fail-match :customer: transient	\N
29	6	6	1796624450810	1796624450811	transient	fault: fail-match :customer: transient	\N
30	2	13	1796624451017	1796624451018	transient	fault: fail-match :customer: transient	\N
31	2	14	1796624451226	1796624451227	transient	fault: fail-match :customer: transient	\N
32	2	15	1796624451431	1796624451432	transient	fault: fail-match :customer: transient	\N
33	2	16	1796624451638	1796624451639	transient	fault: fail-match :customer: transient	\N
34	6	7	1796624451842	1796624451842	transient	fault: fail-match :customer: transient	\N
35	2	17	1796624452046	1796624452047	transient	fault: fail-match :customer: transient	\N
36	6	8	1796624452250	1796624452251	transient	fault: fail-match :customer: transient	\N
37	2	18	1796624452456	1796624452457	transient	fault: fail-match :customer: transient	\N
38	2	19	1796624452663	1796624452666	transient	fault: fail-match :customer: transient	\N
39	6	9	1796624452871	1796624452872	transient	fault: fail-match :customer: transient	\N
40	2	20	1796624453076	1796624453077	transient	fault: fail-match :customer: transient	\N
41	2	21	1796624453280	1796624453282	transient	fault: fail-match :customer: transient	\N
42	2	22	1796624453485	1796624453486	transient	fault: fail-match :customer: transient	\N
43	2	23	1796624453690	1796624453691	transient	fault: fail-match :customer: transient	\N
44	6	10	1796624453897	1796624453898	transient	fault: fail-match :customer: transient	\N
45	2	24	1796624454105	1796624454106	transient	fault: fail-match :customer: transient	\N
46	6	11	1796624454311	1796624454312	transient	fault: fail-match :customer: transient	\N
47	2	25	1796624454520	1796624454521	transient	fault: fail-match :customer: transient	\N
48	6	12	1796624454726	1796624454727	transient	fault: fail-match :customer: transient	\N
49	2	26	1796624454932	1796624454933	transient	fault: fail-match :customer: transient	\N
50	6	13	1796624455136	1796624455137	transient	fault: fail-match :customer: transient	\N
51	2	27	1796624455342	1796624455343	transient	fault: fail-match :customer: transient	\N
52	6	14	1796624455550	1796624455551	transient	fault: fail-match :customer: transient	\N
53	2	28	1796624455756	1796624455757	transient	fault: fail-match :customer: transient	\N
\.


--
-- Data for Name: audit; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.audit (id, at, correlation_id, actor, action, subject, detail, prev_hash, hash, mac) FROM stdin;
1	1796624447096	sample-shop-2	host	delivery.dead	delivery 4 route shop->erp	permanent: fault: fail-match :payment: permanent		2117f4bd3abd59c5af1e867927b7e3a20694b50bc95fdd5f7f9c6b6ce6131815	5dc2a038ae47041d6e85a8b926a8cf72414e3da6e2074137a75193c43322d868
2	1796624447096	sample-shop-5	host	delivery.dead	delivery 8 route shop->erp	permanent: fault: fail-match :payment: permanent	2117f4bd3abd59c5af1e867927b7e3a20694b50bc95fdd5f7f9c6b6ce6131815	4ea8d15f1cca7f5a94bce1e727bd4fcd40a524fc276045038828207748f7c624	087eef6ab669ba8b2d18371954995a8d11eca7432825a3bc5d7bfa8e061e7620
3	1796624447096	sample-shop-8	host	delivery.dead	delivery 12 route shop->erp	permanent: fault: fail-match :payment: permanent	4ea8d15f1cca7f5a94bce1e727bd4fcd40a524fc276045038828207748f7c624	4264d9e46f83cc215525fb82e75c0acd0dfe9a0f35a73d726abeb372b4c637b6	af0daf33f38671ba018e20363682e934d75ebcf5f1878eba1d8056da2f28d328
4	1796624454837	\N	operator root (uid 0)	secret.set	secret erp/api_key	version 1	4264d9e46f83cc215525fb82e75c0acd0dfe9a0f35a73d726abeb372b4c637b6	95864a0db8f2c5c39eff53d2649813f6a592cdb9477b014d3cdca6810d84d531	484f94079582fcfa1c5085cbaddac16cc4c3ff18fdea538e37c1b54aec775cc7
\.


--
-- Data for Name: cursors; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.cursors (connector, stream, cursor, updated_at) FROM stdin;
erp	synthetic	0	1796624452026
crm	synthetic	0	1796624452038
shop	synthetic	9	1796624452042
\.


--
-- Data for Name: dead_letters; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.dead_letters (delivery_id, dead_at, error_class, reason) FROM stdin;
4	1796624447096	permanent	fault: fail-match :payment: permanent
8	1796624447096	permanent	fault: fail-match :payment: permanent
12	1796624447096	permanent	fault: fail-match :payment: permanent
\.


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.deliveries (id, event_id, route, target, tenant, ordering_key, state, attempts, next_attempt_at, created_at, updated_at, last_error, last_error_class, external_id, waiting_for) FROM stdin;
1	1	shop->erp	erp	\N	cus_0	delivered	1	1796624447025	1796624447025	1796624447052	\N	\N	sample-shop:customer:cus_0:1	\N
5	4	shop->erp	erp	\N	cus_1	delivered	1	1796624447025	1796624447025	1796624447052	\N	\N	sample-shop:customer:cus_1:1	\N
9	7	shop->erp	erp	\N	cus_2	delivered	1	1796624447025	1796624447025	1796624447052	\N	\N	sample-shop:customer:cus_2:1	\N
3	2	shop->erp	erp	\N	cus_0	delivered	1	1796624447025	1796624447025	1796624447079	\N	\N	sample-shop:invoice:in_1:1	\N
7	5	shop->erp	erp	\N	cus_1	delivered	1	1796624447025	1796624447025	1796624447079	\N	\N	sample-shop:invoice:in_4:1	\N
11	8	shop->erp	erp	\N	cus_2	delivered	1	1796624447025	1796624447025	1796624447079	\N	\N	sample-shop:invoice:in_7:1	\N
4	3	shop->erp	erp	\N	cus_0	dead	1	1796624447025	1796624447025	1796624447096	fault: fail-match :payment: permanent	permanent	\N	\N
8	6	shop->erp	erp	\N	cus_1	dead	1	1796624447025	1796624447025	1796624447096	fault: fail-match :payment: permanent	permanent	\N	\N
12	9	shop->erp	erp	\N	cus_2	dead	1	1796624447025	1796624447025	1796624447096	fault: fail-match :payment: permanent	permanent	\N	\N
10	7	shop->crm	crm	\N	cus_2	pending	2	1796624447208	1796624447025	1796624447120	fault: fail-match :customer: transient	transient	\N	\N
6	4	shop->crm	crm	\N	cus_1	pending	14	1796624455783	1796624447025	1796624455551	fault: fail-match :customer: transient	transient	\N	\N
2	1	shop->crm	crm	\N	cus_0	pending	28	1796624456003	1796624447025	1796624455757	fault: fail-match :customer: transient	transient	\N	\N
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.events (id, idempotency_key, connector, type, object_type, object_id, tenant, entity, correlation_id, ordering_key, received_at, refs, payload) FROM stdin;
1	shop:customer:cus_0:1	shop	customer.upserted	customer	cus_0	\N	\N	sample-shop-0	cus_0	1796624447025	shop:customer:cus_0	\\x7b2274797065223a22637573746f6d65722e7570736572746564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f30227d2c227265636f7264223a7b226b696e64223a22637573746f6d6572222c22637573746f6d6572223a7b226e616d65223a22437573746f6d65722030222c22656d61696c223a226330406578616d706c652e636f6d222c2261646472657373223a7b2263697479223a224c796f6e222c22636f756e747279223a224652227d2c2263757272656e6379223a22455552222c2269735f636f6d70616e79223a747275657d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d30222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f30227d
2	shop:invoice:in_1:1	shop	invoice.finalized	invoice	in_1	\N	\N	sample-shop-1	cus_0	1796624447025	shop:invoice:in_1\nshop:customer:cus_0	\\x7b2274797065223a22696e766f6963652e66696e616c697a6564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f31227d2c227265636f7264223a7b226b696e64223a22696e766f696365222c22696e766f696365223a7b226e756d626572223a22494e562d31222c22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f30227d2c22737461747573223a226f70656e222c2263757272656e6379223a22455552222c226c696e6573223a5b7b226465736372697074696f6e223a22537562736372697074696f6e222c227175616e74697479223a2231222c22756e69745f616d6f756e745f6d696e6f72223a31303130302c22616d6f756e745f6d696e6f72223a31303130302c227461786573223a5b7b2272617465223a223230222c22696e636c7573697665223a66616c73652c22616d6f756e745f6d696e6f72223a323032307d5d7d5d2c22737562746f74616c5f6d696e6f72223a31303130302c227461785f6d696e6f72223a323032302c22746f74616c5f6d696e6f72223a31323132302c22616d6f756e745f706169645f6d696e6f72223a302c22616d6f756e745f6475655f6d696e6f72223a31323132307d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d31222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f30227d
3	shop:payment:py_2:1	shop	payment.succeeded	payment	py_2	\N	\N	sample-shop-2	cus_0	1796624447025	shop:payment:py_2\nshop:customer:cus_0\nshop:invoice:in_1	\\x7b2274797065223a227061796d656e742e737563636565646564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a227061796d656e74222c226f626a6563745f6964223a2270795f32227d2c227265636f7264223a7b226b696e64223a227061796d656e74222c227061796d656e74223a7b22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f30227d2c22696e766f696365223a7b226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f31227d2c22616d6f756e74223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a31323132307d2c22666565223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a3233327d2c22737461747573223a22737563636565646564222c226d6574686f64223a2263617264227d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d32222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f30227d
4	shop:customer:cus_1:1	shop	customer.upserted	customer	cus_1	\N	\N	sample-shop-3	cus_1	1796624447025	shop:customer:cus_1	\\x7b2274797065223a22637573746f6d65722e7570736572746564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f31227d2c227265636f7264223a7b226b696e64223a22637573746f6d6572222c22637573746f6d6572223a7b226e616d65223a22437573746f6d65722031222c22656d61696c223a226331406578616d706c652e636f6d222c2261646472657373223a7b2263697479223a224c796f6e222c22636f756e747279223a224652227d2c2263757272656e6379223a22455552222c2269735f636f6d70616e79223a747275657d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d33222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f31227d
5	shop:invoice:in_4:1	shop	invoice.finalized	invoice	in_4	\N	\N	sample-shop-4	cus_1	1796624447025	shop:invoice:in_4\nshop:customer:cus_1	\\x7b2274797065223a22696e766f6963652e66696e616c697a6564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f34227d2c227265636f7264223a7b226b696e64223a22696e766f696365222c22696e766f696365223a7b226e756d626572223a22494e562d34222c22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f31227d2c22737461747573223a226f70656e222c2263757272656e6379223a22455552222c226c696e6573223a5b7b226465736372697074696f6e223a22537562736372697074696f6e222c227175616e74697479223a2231222c22756e69745f616d6f756e745f6d696e6f72223a31303430302c22616d6f756e745f6d696e6f72223a31303430302c227461786573223a5b7b2272617465223a223230222c22696e636c7573697665223a66616c73652c22616d6f756e745f6d696e6f72223a323038307d5d7d5d2c22737562746f74616c5f6d696e6f72223a31303430302c227461785f6d696e6f72223a323038302c22746f74616c5f6d696e6f72223a31323438302c22616d6f756e745f706169645f6d696e6f72223a302c22616d6f756e745f6475655f6d696e6f72223a31323438307d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d34222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f31227d
6	shop:payment:py_5:1	shop	payment.succeeded	payment	py_5	\N	\N	sample-shop-5	cus_1	1796624447025	shop:payment:py_5\nshop:customer:cus_1\nshop:invoice:in_4	\\x7b2274797065223a227061796d656e742e737563636565646564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a227061796d656e74222c226f626a6563745f6964223a2270795f35227d2c227265636f7264223a7b226b696e64223a227061796d656e74222c227061796d656e74223a7b22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f31227d2c22696e766f696365223a7b226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f34227d2c22616d6f756e74223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a31323438307d2c22666565223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a3233387d2c22737461747573223a22737563636565646564222c226d6574686f64223a2263617264227d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d35222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f31227d
7	shop:customer:cus_2:1	shop	customer.upserted	customer	cus_2	\N	\N	sample-shop-6	cus_2	1796624447025	shop:customer:cus_2	\\x7b2274797065223a22637573746f6d65722e7570736572746564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f32227d2c227265636f7264223a7b226b696e64223a22637573746f6d6572222c22637573746f6d6572223a7b226e616d65223a22437573746f6d65722032222c22656d61696c223a226332406578616d706c652e636f6d222c2261646472657373223a7b2263697479223a224c796f6e222c22636f756e747279223a224652227d2c2263757272656e6379223a22455552222c2269735f636f6d70616e79223a747275657d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d36222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f32227d
8	shop:invoice:in_7:1	shop	invoice.finalized	invoice	in_7	\N	\N	sample-shop-7	cus_2	1796624447025	shop:invoice:in_7\nshop:customer:cus_2	\\x7b2274797065223a22696e766f6963652e66696e616c697a6564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f37227d2c227265636f7264223a7b226b696e64223a22696e766f696365222c22696e766f696365223a7b226e756d626572223a22494e562d37222c22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f32227d2c22737461747573223a226f70656e222c2263757272656e6379223a22455552222c226c696e6573223a5b7b226465736372697074696f6e223a22537562736372697074696f6e222c227175616e74697479223a2231222c22756e69745f616d6f756e745f6d696e6f72223a31303730302c22616d6f756e745f6d696e6f72223a31303730302c227461786573223a5b7b2272617465223a223230222c22696e636c7573697665223a66616c73652c22616d6f756e745f6d696e6f72223a323134307d5d7d5d2c22737562746f74616c5f6d696e6f72223a31303730302c227461785f6d696e6f72223a323134302c22746f74616c5f6d696e6f72223a31323834302c22616d6f756e745f706169645f6d696e6f72223a302c22616d6f756e745f6475655f6d696e6f72223a31323834307d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d37222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f32227d
9	shop:payment:py_8:1	shop	payment.succeeded	payment	py_8	\N	\N	sample-shop-8	cus_2	1796624447025	shop:payment:py_8\nshop:customer:cus_2\nshop:invoice:in_7	\\x7b2274797065223a227061796d656e742e737563636565646564222c22736f75726365223a7b2276657273696f6e223a2231222c226f626a6563745f74797065223a227061796d656e74222c226f626a6563745f6964223a2270795f38227d2c227265636f7264223a7b226b696e64223a227061796d656e74222c227061796d656e74223a7b22637573746f6d6572223a7b226f626a6563745f74797065223a22637573746f6d6572222c226f626a6563745f6964223a226375735f32227d2c22696e766f696365223a7b226f626a6563745f74797065223a22696e766f696365222c226f626a6563745f6964223a22696e5f37227d2c22616d6f756e74223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a31323834307d2c22666565223a7b2263757272656e6379223a22455552222c22616d6f756e745f6d696e6f72223a3234347d2c22737461747573223a22737563636565646564222c226d6574686f64223a2263617264227d7d2c22736368656d615f76657273696f6e223a312c22636f7272656c6174696f6e5f6964223a2273616d706c652d73686f702d38222c226f636375727265645f6174223a22323032362d30312d30315430303a30303a30305a222c226f72646572696e675f6b6579223a226375735f32227d
\.


--
-- Data for Name: intake_rejects; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.intake_rejects (id, connector, stream, rejected_at, reason, payload) FROM stdin;
\.


--
-- Data for Name: links; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.links (connector, canonical_id, object_type, source_id, external_id, updated_at) FROM stdin;
erp	shop:customer:cus_0	customer	cus_0	sample-shop:customer:cus_0:1	1796624447052
erp	shop:customer:cus_1	customer	cus_1	sample-shop:customer:cus_1:1	1796624447052
erp	shop:customer:cus_2	customer	cus_2	sample-shop:customer:cus_2:1	1796624447052
erp	shop:invoice:in_1	invoice	in_1	sample-shop:invoice:in_1:1	1796624447079
erp	shop:invoice:in_4	invoice	in_4	sample-shop:invoice:in_4:1	1796624447079
erp	shop:invoice:in_7	invoice	in_7	sample-shop:invoice:in_7:1	1796624447079
\.


--
-- Data for Name: reconcile_runs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.reconcile_runs (id, name, started_at, finished_at, outcome, drift, report) FROM stdin;
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.schema_migrations (version, applied_at) FROM stdin;
v1	1796624446757
\.


--
-- Data for Name: secrets; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.secrets (connector, name, version, sealed, created_at, updated_at, updated_by) FROM stdin;
erp	api_key	1	\\x395acfba99fafed28b75fb4e32f066aba23e286c18682148bf97308ce13f677cb45dee69c8c456d3	1796624454837	1796624454837	operator root (uid 0)
\.


--
-- Data for Name: source_stats; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.source_stats (connector, duplicates) FROM stdin;
\.


--
-- Data for Name: vault_meta; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.vault_meta (name, sealed) FROM stdin;
audit-key	\\x2c9abb64b74875516815cf42a37e3b61bf2cf38f1b5b4dff57e6126e6d2f037650449a000a27cc2b8c05a5daa98260a3e3ed44b7ccc1eea69d162ae0
check	\\x030fb3863a2d6352a923a90cc3ec592ff95dfa003cb5b5e05aa46945f7aea88200ee71bd1b28d193465082050457e3fd84b072cc1291d297aaaa92a1fb6365
audit-start	\\x93e5eefdd15a02f8257538c477b936dee408d2ae22137424c05c3a6a64
audit-head	\\x3420393538363461306462386632633563333965666635336432363439383133663661353932636462393437376230313464336364636136383130643834643533312066306231393261646235316361623264383266353432366332613164343930653334356261346438343430653739636663316166666630313935383063353464
\.


--
-- Data for Name: webhook_replays; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.webhook_replays (connector, replay_key, seen_at) FROM stdin;
\.


--
-- Name: attempts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.attempts_id_seq', 53, true);


--
-- Name: deliveries_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.deliveries_id_seq', 12, true);


--
-- Name: events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.events_id_seq', 9, true);


--
-- Name: intake_rejects_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.intake_rejects_id_seq', 1, false);


--
-- Name: reconcile_runs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.reconcile_runs_id_seq', 1, false);


--
-- Name: attempts attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (id);


--
-- Name: audit audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit
    ADD CONSTRAINT audit_pkey PRIMARY KEY (id);


--
-- Name: cursors cursors_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.cursors
    ADD CONSTRAINT cursors_pkey PRIMARY KEY (connector, stream);


--
-- Name: dead_letters dead_letters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (delivery_id);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);


--
-- Name: events events_idempotency_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_idempotency_key_key UNIQUE (idempotency_key);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: intake_rejects intake_rejects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.intake_rejects
    ADD CONSTRAINT intake_rejects_pkey PRIMARY KEY (id);


--
-- Name: links links_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.links
    ADD CONSTRAINT links_pkey PRIMARY KEY (connector, canonical_id);


--
-- Name: reconcile_runs reconcile_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reconcile_runs
    ADD CONSTRAINT reconcile_runs_pkey PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: secrets secrets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.secrets
    ADD CONSTRAINT secrets_pkey PRIMARY KEY (connector, name);


--
-- Name: source_stats source_stats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.source_stats
    ADD CONSTRAINT source_stats_pkey PRIMARY KEY (connector);


--
-- Name: vault_meta vault_meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_meta
    ADD CONSTRAINT vault_meta_pkey PRIMARY KEY (name);


--
-- Name: webhook_replays webhook_replays_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_replays
    ADD CONSTRAINT webhook_replays_pkey PRIMARY KEY (connector, replay_key);


--
-- Name: attempts_by_delivery; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX attempts_by_delivery ON public.attempts USING btree (delivery_id);


--
-- Name: audit_by_correlation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX audit_by_correlation ON public.audit USING btree (correlation_id);


--
-- Name: deliveries_by_event; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_by_event ON public.deliveries USING btree (event_id);


--
-- Name: deliveries_dependency; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_dependency ON public.deliveries USING btree (route, ordering_key) WHERE ((state = 'pending'::text) AND (last_error_class = 'dependency'::text));


--
-- Name: deliveries_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_pending ON public.deliveries USING btree (route, id) WHERE (state = 'pending'::text);


--
-- Name: deliveries_pending_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_pending_key ON public.deliveries USING btree (route, ordering_key, id) INCLUDE (last_error_class) WHERE (state = 'pending'::text);


--
-- Name: deliveries_waiting; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX deliveries_waiting ON public.deliveries USING btree (waiting_for) WHERE ((state = 'pending'::text) AND (waiting_for IS NOT NULL));


--
-- Name: events_by_correlation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_by_correlation ON public.events USING btree (correlation_id);


--
-- Name: events_by_object; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_by_object ON public.events USING btree (connector, object_type, object_id);


--
-- Name: reconcile_runs_by_name; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX reconcile_runs_by_name ON public.reconcile_runs USING btree (name, id);


--
-- Name: webhook_replays_by_age; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_replays_by_age ON public.webhook_replays USING btree (seen_at);


--
-- Name: audit audit_no_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_no_change BEFORE DELETE OR UPDATE ON public.audit FOR EACH ROW EXECUTE FUNCTION public.audit_append_only();


--
-- Name: audit audit_no_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON public.audit FOR EACH STATEMENT EXECUTE FUNCTION public.audit_append_only();


--
-- Name: attempts attempts_delivery_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.attempts
    ADD CONSTRAINT attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.deliveries(id);


--
-- Name: dead_letters dead_letters_delivery_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dead_letters
    ADD CONSTRAINT dead_letters_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.deliveries(id);


--
-- Name: deliveries deliveries_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.events(id);


--
-- PostgreSQL database dump complete
--

\unrestrict mynDvXgCManQFzzfT3tuZhQB75Oye9hS8UPVFruG7l7RMkwE2ShEziB8jtdoQea

