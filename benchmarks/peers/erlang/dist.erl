%% Cross-node scenarios over Erlang distribution: two nodes on this machine
%% (`erl -sname`), the peer of luactor's cluster on NATS.
%%
%% The serving node runs `dist:serve()`: a registered `echo` (answers every
%% message to its sender) and `sink` (counts messages until `{done, From}`).
%% The measuring node runs `dist main SCENARIO N WARMUP PEERNODE` and prints
%% one JSON line: {"work": W, "elapsed_s": S, "n": N}.
-module(dist).
-export([main/1, serve/0]).

serve() ->
    register(echo, spawn(fun echo/0)),
    register(sink, spawn(fun() -> sink(0) end)),
    receive stop -> ok end.

echo() ->
    receive {From, Msg} -> From ! Msg, echo() end.

sink(Count) ->
    receive
        {done, From} -> From ! {count, Count}, sink(0);
        _ -> sink(Count + 1)
    end.

main([Scenario, NText, WarmText, PeerText]) ->
    N = list_to_integer(NText),
    Peer = list_to_atom(PeerText),
    ok = connect(Peer, 100),
    _ = run(Scenario, Peer, list_to_integer(WarmText)),
    T0 = erlang:monotonic_time(microsecond),
    Work = run(Scenario, Peer, N),
    T1 = erlang:monotonic_time(microsecond),
    io:format("{\"work\": ~p, \"elapsed_s\": ~f, \"n\": ~p}~n", [Work, (T1 - T0) / 1.0e6, N]),
    halt(0).

%% Until the peer answers and its echo and sink are registered.
connect(_, 0) -> timeout;
connect(Peer, Tries) ->
    Ready = net_adm:ping(Peer) =:= pong andalso
        is_pid(rpc:call(Peer, erlang, whereis, [echo])) andalso
        is_pid(rpc:call(Peer, erlang, whereis, [sink])),
    case Ready of
        true -> ok;
        false -> timer:sleep(100), connect(Peer, Tries - 1)
    end.

run("pingpong_nodes", Peer, N) -> pingpong({echo, Peer}, N), 2 * N;
run("stream_nodes", Peer, N) -> stream({sink, Peer}, N), {sink, Peer} ! {done, self()},
    receive {count, Count} -> Count end.

pingpong(_, 0) -> ok;
pingpong(Echo, K) -> Echo ! {self(), K}, receive K -> pingpong(Echo, K - 1) end.

stream(_, 0) -> ok;
stream(Sink, K) -> Sink ! K, stream(Sink, K - 1).
