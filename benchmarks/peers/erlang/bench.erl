%% Peer: Erlang/OTP, the reference for what a process runtime can do.
%%
%% Run by benchmarks/peers/erlang_peer.py as
%%   erl +S W +P 4000000 -noshell -pa DIR -run bench main SCENARIO N WARMUP_N [actors=A] [senders=S] [pairs=P]
%% with W schedulers against W luactor workers (one, unless a scaling
%% scenario runs at N).  The warm-up runs in the same VM, then one measured
%% run prints one JSON line
%% {"work": ..., "elapsed_s": ..., "n": ...} which the Python side turns into
%% the common result line (value, unit) from benchmarks/scenarios.py.
-module(bench).
-export([main/1]).

main([Scenario, N, WarmupN | Params]) ->
    Opts = [parse_param(P) || P <- Params],
    Run = fun(Size) -> run(list_to_atom(Scenario), Size, Opts) end,
    _ = Run(list_to_integer(WarmupN)),
    Size = list_to_integer(N),
    {Work, Elapsed} = Run(Size),
    io:format("{\"work\": ~w, \"elapsed_s\": ~w, \"n\": ~w}~n",
              [Work, Elapsed, Size]),
    halt(0).

parse_param(P) ->
    [K, V] = string:split(P, "="),
    {list_to_atom(K), list_to_integer(V)}.

run(pingpong, N, _) -> pingpong(N);
run(pingpong_inbox, N, _) -> pairs(N, 1, false);
run(pairs, N, Opts) -> pairs(N, proplists:get_value(pairs, Opts), false);
run(pingpong_cross, N, _) -> pairs(N, 1, true);
run(ring, N, Opts) -> ring(N, proplists:get_value(actors, Opts, 10000));
run(fanin, N, Opts) -> fanin(N, proplists:get_value(senders, Opts, 100));
run(skynet, N, _) -> skynet(N);
run(spawn, N, _) -> spawn_rate(N);
run(idle_memory, N, _) -> idle_memory(N).

now_ns() -> erlang:monotonic_time(nanosecond).
since(T0) -> (now_ns() - T0) / 1.0e9.

receive_n(0) -> ok;
receive_n(K) -> receive _ -> receive_n(K - 1) end.

%% pingpong: N round trips, each one-way delivery counts.
pingpong(N) ->
    Pong = spawn(fun pong/0),
    T0 = now_ns(),
    ping(Pong, N),
    Elapsed = since(T0),
    Pong ! stop,
    {2 * N, Elapsed}.

ping(_, 0) -> ok;
ping(Pong, K) ->
    Pong ! {self(), K},
    receive K -> ping(Pong, K - 1) end.

pong() ->
    receive
        {From, X} -> From ! X, pong();
        stop -> ok
    end.

%% pingpong_inbox, pairs, pingpong_cross: Pairs pairs of ping-pong whose
%% messages are {Sender, #{seq => I}}; pong replies to the sender named in the
%% message, ping checks that each reply carries the seq it sent.  Pair J runs
%% on scheduler (J - 1) rem S + 1 and, with Cross, its pong on the next one:
%% spawn_opt's {scheduler, K} binds a process to scheduler K, as luactor's
%% spawn option `worker` places one.  Timed from the go to the last ping's end.
pairs(N, Pairs, Cross) ->
    S = erlang:system_info(schedulers),
    Rounds = N div Pairs,
    Self = self(),
    Pings = [begin
                 W = (J - 1) rem S + 1,
                 PongAt = case Cross of true -> W rem S + 1; false -> W end,
                 Pong = spawn_opt(fun() -> pong_inbox(Self) end, [{scheduler, PongAt}]),
                 {Ping, _} = spawn_opt(fun() -> ping_inbox(Self, Pong, Rounds) end,
                                       [monitor, {scheduler, W}]),
                 Ping
             end || J <- lists:seq(1, Pairs)],
    receive_ready(2 * Pairs),
    T0 = now_ns(),
    [Ping ! go || Ping <- Pings],
    await_pings(Pairs),
    {2 * Rounds * Pairs, since(T0)}.

receive_ready(0) -> ok;
receive_ready(K) -> receive ready -> receive_ready(K - 1) end.

await_pings(0) -> ok;
await_pings(K) ->
    receive
        {'DOWN', _, process, _, normal} -> await_pings(K - 1);
        {'DOWN', _, process, _, Why} -> exit({ping_failed, Why})
    end.

ping_inbox(Driver, Pong, Rounds) ->
    Driver ! ready,
    receive go -> ok end,
    ping_rounds(Pong, 1, Rounds),
    Pong ! {self(), #{seq => 0}}.

ping_rounds(_, I, Rounds) when I > Rounds -> ok;
ping_rounds(Pong, I, Rounds) ->
    Pong ! {self(), #{seq => I}},
    receive
        {_, #{seq := I}} -> ping_rounds(Pong, I + 1, Rounds);
        {_, #{seq := Other}} -> exit({reply_out_of_order, I, Other})
    end.

pong_inbox(Driver) ->
    Driver ! ready,
    pong_loop().

pong_loop() ->
    receive
        {_, #{seq := 0}} -> ok;
        {From, Msg} -> From ! {self(), Msg}, pong_loop()
    end.

%% ring: the caller is one member; the token counts down to 0.
ring(Hops, Actors) ->
    Self = self(),
    First = lists:foldl(fun(_, Next) -> spawn(fun() -> ring_node(Next, Self) end) end,
                        Self, lists:seq(1, Actors - 1)),
    T0 = now_ns(),
    First ! Hops,
    ring_main(First),
    Elapsed = since(T0),
    First ! stop,
    receive stop -> ok end,
    {Hops, Elapsed}.

ring_main(First) ->
    receive
        ring_done -> ok;
        0 -> ok;
        T -> First ! T - 1, ring_main(First)
    end.

ring_node(Next, Main) ->
    receive
        stop -> Next ! stop;
        0 -> Main ! ring_done, ring_node(Next, Main);
        T -> Next ! T - 1, ring_node(Next, Main)
    end.

%% fanin: Senders processes each send N div Senders messages to the caller.
fanin(N, Senders) ->
    Per = N div Senders,
    Self = self(),
    T0 = now_ns(),
    [spawn(fun() -> send_n(Self, Per) end) || _ <- lists:seq(1, Senders)],
    receive_n(Per * Senders),
    {Per * Senders, since(T0)}.

send_n(_, 0) -> ok;
send_n(To, K) -> To ! K, send_n(To, K - 1).

%% skynet: N leaves in a tree of 10, each node sums its children's replies.
skynet(N) ->
    Self = self(),
    T0 = now_ns(),
    spawn(fun() -> skynet(Self, 0, N) end),
    Sum = receive {sky, S} -> S end,
    Elapsed = since(T0),
    Sum = N * (N - 1) div 2,
    {N, Elapsed}.

skynet(Parent, Num, 1) -> Parent ! {sky, Num};
skynet(Parent, Num, Size) ->
    S = Size div 10,
    Self = self(),
    [spawn(fun() -> skynet(Self, Num + I * S, S) end) || I <- lists:seq(0, 9)],
    Parent ! {sky, sky_sum(10, 0)}.

sky_sum(0, Acc) -> Acc;
sky_sum(K, Acc) -> receive {sky, X} -> sky_sum(K - 1, Acc + X) end.

%% spawn: N children, each sends one message to its parent and exits.
spawn_rate(N) ->
    Self = self(),
    T0 = now_ns(),
    spawn_children(N, fun() -> Self ! bye end),
    receive_n(N),
    {N, since(T0)}.

spawn_children(0, _) -> ok;
spawn_children(K, F) -> spawn(F), spawn_children(K - 1, F).

%% idle_memory: N processes, each reports once then blocks in receive.
idle_memory(N) ->
    Self = self(),
    erlang:garbage_collect(),
    Base = rss(),
    T0 = now_ns(),
    Pids = [spawn(fun() -> Self ! up, receive stop -> ok end end)
            || _ <- lists:seq(1, N)],
    receive_n(N),
    Elapsed = since(T0),
    erlang:garbage_collect(),
    Grown = rss() - Base,
    [P ! stop || P <- Pids],
    {Grown, Elapsed}.

rss() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    {match, [Kb]} = re:run(Status, "VmRSS:\\s+(\\d+)",
                           [{capture, all_but_first, list}]),
    list_to_integer(Kb) * 1024.
