// The simulated USRP's clock and its two streaming engines (see sim_usrp.hpp).
#include "sim_usrp.hpp"
#include <uhd/exception.hpp>
#include <zmq.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace radiops_sim {

namespace {

std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value ? value : "";
}

double env_number(const char* name, double fallback)
{
    const std::string text = env(name);
    if (text.empty())
        return fallback;
    char* end           = nullptr;
    const double number = std::strtod(text.c_str(), &end);
    if (end == text.c_str() or *end != '\0' or not std::isfinite(number))
        throw uhd::value_error(
            std::string("simulated USRP: ") + name + "=" + text + " is not a number");
    return number;
}

constexpr float SC16_SCALE = 32767.0f;
constexpr int HIGH_WATER   = 4; // messages queued per socket before a send blocks
constexpr double LEAD_S    = 0.01; // how far ahead of the clock TX samples are pushed
constexpr double CHUNK_S   = 0.002; // the smallest TX message, in time
constexpr double BUFFER_S  = 0.1; // TX samples the "device" holds before send() blocks
constexpr double RX_KEEP_S = 0.5; // RX samples kept for the host before an overflow
constexpr double DRAIN_S   = 5.0; // how long closing waits for queued bursts
constexpr double SKIP_S    = 0.25; // a TX this far behind its clock skips ahead
constexpr double MESSAGE_S = 0.005; // the largest TX message, in time
constexpr double STALL_S   = 5.0; // fast pacing: how long the medium waits for the application
constexpr double LAG_S     = 2.0; // real time: a medium this far behind the clock cannot keep up
constexpr int64_t FAST_LEAD = 1 << 18; // fast: how far a TX may run ahead of its RX's clock
// fast: how long send() waits for room, and recv() for the samples of a stream
// command, whatever the timeout; a wall-clock timeout says nothing of a device
// whose time is its samples, and the medium may wait for a busy application
constexpr double FAST_WAIT_S = 30.0;

std::chrono::steady_clock::time_point deadline_in(double seconds)
{
    return std::chrono::steady_clock::now()
           + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(seconds));
}

void convert_in(const void* buff, cpu_format format, size_t offset, size_t n, cf* out)
{
    if (format == cpu_format::fc32) {
        std::memcpy(out, static_cast<const cf*>(buff) + offset, n * sizeof(cf));
        return;
    }
    const int16_t* in = static_cast<const int16_t*>(buff) + 2 * offset;
    for (size_t i = 0; i < n; i++)
        out[i] = cf(in[2 * i] / SC16_SCALE, in[2 * i + 1] / SC16_SCALE);
}

int16_t to_sc16(float value)
{
    const float scaled = std::round(value * SC16_SCALE);
    return static_cast<int16_t>(std::clamp(scaled, -32768.0f, 32767.0f));
}

void convert_out(const cf* in, size_t n, cpu_format format, void* buff, size_t offset)
{
    if (format == cpu_format::fc32) {
        std::memcpy(static_cast<cf*>(buff) + offset, in, n * sizeof(cf));
        return;
    }
    int16_t* out = static_cast<int16_t*>(buff) + 2 * offset;
    for (size_t i = 0; i < n; i++) {
        out[2 * i]     = to_sc16(in[i].real());
        out[2 * i + 1] = to_sc16(in[i].imag());
    }
}

void* open_socket(void*& context, int type, const std::string& endpoint)
{
    context      = zmq_ctx_new();
    void* socket = zmq_socket(context, type);
    const int hwm = HIGH_WATER, linger = 2000;
    zmq_setsockopt(socket, type == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(socket, endpoint.c_str()) != 0) {
        const std::string why = zmq_strerror(zmq_errno());
        zmq_close(socket);
        zmq_ctx_term(context);
        throw uhd::runtime_error(
            "simulated USRP: cannot connect to the channel emulator at " + endpoint + ": " + why);
    }
    return socket;
}

void close_socket(void* context, void* socket)
{
    if (socket)
        zmq_close(socket);
    if (context)
        zmq_ctx_term(context);
}

void sleep_ticks(int64_t ticks, double rate)
{
    const double seconds = std::clamp(ticks / rate, 0.0002, 0.01);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

} // namespace

settings_t settings_t::from_env()
{
    settings_t s;
    const std::string simulated = env("RADIOPS_RADIO_SIMULATED");
    s.simulated   = simulated == "true" or simulated == "1" or simulated == "yes";
    s.rate        = env_number("RADIOPS_RADIO_RATE", 0.0);
    s.frequency   = env_number("RADIOPS_RADIO_FREQUENCY", 0.0);
    s.gain        = env_number("RADIOPS_RADIO_GAIN", 0.0);
    s.antenna     = env("RADIOPS_RADIO_ANTENNA");
    s.type        = env("RADIOPS_RADIO_TYPE");
    s.serial      = env("RADIOPS_RADIO_SERIAL");
    s.node        = env("RADIOPS_NODE");
    s.uhd_args    = env("UHD_ARGS");
    s.tx_endpoint = env("RADIOPS_CHANNEL_TX");
    s.rx_endpoint = env("RADIOPS_CHANNEL_RX");
    const std::string pacing = env("RADIOPS_RADIO_PACING");
    if (pacing != "" and pacing != "realtime" and pacing != "fast")
        throw uhd::value_error("simulated USRP: RADIOPS_RADIO_PACING=" + pacing
                               + " is not a pacing (realtime or fast: the scenario's pacing)");
    s.fast = pacing == "fast";
    // UHD 4 claims every "type=sim" for its own (MPM) simulator, and its claim
    // comes first: the local default testbed's radios answer to "radiops-sim"
    if (s.type.empty() or s.type == "sim")
        s.type = "radiops-sim";
    return s;
}

// ---------------------------------------------------------------- clock

device_clock::device_clock(double rate, bool fast)
    : _rate(rate), _fast(fast), _t0(std::chrono::steady_clock::now())
{
}

int64_t device_clock::elapsed() const
{
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - _t0;
    return static_cast<int64_t>(std::floor(elapsed.count() * _rate));
}

int64_t device_clock::wall() const
{
    return _fast ? _driven.load() : elapsed();
}

void device_clock::drive(int64_t w)
{
    int64_t seen = _driven.load();
    while (w > seen and not _driven.compare_exchange_weak(seen, w)) {
    }
}

void device_clock::_apply_pps_locked(int64_t wall)
{
    if (_pps_pending and wall >= _pps_edge) {
        _offset      = _pps_value - _pps_edge;
        _pps_pending = false;
    }
}

int64_t device_clock::offset()
{
    std::lock_guard<std::mutex> lock(_mutex);
    _apply_pps_locked(wall());
    return _offset;
}

int64_t device_clock::now()
{
    const int64_t w = wall();
    std::lock_guard<std::mutex> lock(_mutex);
    _apply_pps_locked(w);
    return w + _offset;
}

void device_clock::set_now(int64_t ticks)
{
    const int64_t w = wall();
    std::lock_guard<std::mutex> lock(_mutex);
    _offset = ticks - w;
}

// A simulated PPS edge every whole second of the device's own time base.
void device_clock::set_next_pps(int64_t ticks)
{
    const int64_t w = wall();
    std::lock_guard<std::mutex> lock(_mutex);
    const double second = std::floor(w / _rate) + 1.0;
    _pps_edge           = static_cast<int64_t>(std::llround(second * _rate));
    _pps_value          = ticks;
    _pps_pending        = true;
}

int64_t device_clock::last_pps()
{
    const int64_t w = wall();
    std::lock_guard<std::mutex> lock(_mutex);
    _apply_pps_locked(w);
    const int64_t edge = static_cast<int64_t>(std::llround(std::floor(w / _rate) * _rate));
    return edge + _offset;
}

uhd::time_spec_t device_clock::to_spec(int64_t w)
{
    return uhd::time_spec_t::from_ticks(w + offset(), _rate);
}

int64_t device_clock::to_wall(const uhd::time_spec_t& spec)
{
    return spec.to_ticks(_rate) - offset();
}

// ---------------------------------------------------------------- tuning

void tuning_schedule::set(int64_t at_wall, const tuning_t& tuning)
{
    std::lock_guard<std::mutex> lock(_mutex);
    _pending.emplace(at_wall < 0 ? std::numeric_limits<int64_t>::min() : at_wall, tuning);
}

int64_t tuning_schedule::advance(int64_t w, tuning_t& current)
{
    std::lock_guard<std::mutex> lock(_mutex);
    while (not _pending.empty() and _pending.begin()->first <= w) {
        current = _pending.begin()->second;
        _pending.erase(_pending.begin());
    }
    return _pending.empty() ? std::numeric_limits<int64_t>::max() : _pending.begin()->first;
}

void mix(cf* samples, size_t n, int64_t w, const tuning_t& tuning, double rate, double sign)
{
    if (tuning.scale == 0.0) {
        std::fill(samples, samples + n, cf(0.0f, 0.0f));
        return;
    }
    if (tuning.shift_hz == 0.0) {
        if (tuning.scale != 1.0)
            for (size_t i = 0; i < n; i++)
                samples[i] *= static_cast<float>(tuning.scale);
        return;
    }
    // the phase is a function of the wall tick: exact at the start of every block
    const double cycles_per_tick = sign * tuning.shift_hz / rate;
    const double start           = std::fmod(cycles_per_tick * static_cast<double>(w), 1.0);
    std::complex<double> phasor  = std::polar(tuning.scale, 2 * M_PI * start);
    const std::complex<double> step = std::polar(1.0, 2 * M_PI * cycles_per_tick);
    for (size_t i = 0; i < n; i++) {
        samples[i] = cf(std::complex<double>(samples[i]) * phasor);
        phasor *= step;
    }
}

// ---------------------------------------------------------------- async messages

void async_queue::push(const uhd::async_metadata_t& md)
{
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_queue.size() >= 1000)
            _queue.pop_front();
        _queue.push_back(md);
    }
    _cv.notify_all();
}

bool async_queue::pop(uhd::async_metadata_t& md, double timeout)
{
    std::unique_lock<std::mutex> lock(_mutex);
    if (not _cv.wait_for(lock, std::chrono::duration<double>(timeout), [this] {
            return not _queue.empty();
        }))
        return false;
    md = _queue.front();
    _queue.pop_front();
    return true;
}

cpu_format parse_cpu_format(const std::string& name)
{
    if (name == "fc32")
        return cpu_format::fc32;
    if (name == "sc16")
        return cpu_format::sc16;
    throw uhd::value_error("simulated USRP: CPU sample format \"" + name
                           + "\" is not supported (fc32 and sc16 are)");
}

// ---------------------------------------------------------------- TX

tx_engine::tx_engine(
    std::shared_ptr<device_clock> clock, const std::string& endpoint, bool drives)
    : _clock(std::move(clock)), _endpoint(endpoint), _drives(drives)
{
    _socket   = open_socket(_context, ZMQ_PUSH, endpoint);
    _capacity = static_cast<size_t>(std::max(65536.0, BUFFER_S * _clock->rate()));
    if (_clock->fast())
        _thread = std::thread([this] { _run_fast(); });
    else
        _thread = std::thread([this] { _run(); });
}

tx_engine::~tx_engine()
{
    _drain();
    _running = false;
    _cv.notify_all();
    _thread.join();
    close_socket(_context, _socket); // hands what ZeroMQ queued to the kernel (linger)
    // A container's network goes when its process exits, and with it whatever the
    // kernel had not delivered yet, the end of the connection included: the end of
    // the last burst would be lost, and the emulator would wait for the rest of the
    // stream. So closing waits until the emulator has acknowledged every byte.
    const std::string::size_type colon = _endpoint.rfind(':');
    if (_endpoint.rfind("tcp://", 0) != 0 or colon == std::string::npos)
        return;
    const int port = std::atoi(_endpoint.c_str() + colon + 1);
    const auto deadline = deadline_in(DRAIN_S);
    while (undelivered(port) > 0 and std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Bursts already handed to send() go on the air before the device closes: the
// queue runs dry, no burst is on, and the engine has pushed the message that
// held their last samples (one push after they left the queue).
void tx_engine::_drain()
{
    std::unique_lock<std::mutex> lock(_mutex);
    const auto deadline = deadline_in(DRAIN_S);
    if (not _cv.wait_until(lock, deadline, [this] { return _queue.empty() and not _in_burst; }))
        return;
    const uint64_t pushes = _pushes;
    _cv.wait_until(lock, deadline, [this, pushes] { return _pushes > pushes; });
}

size_t undelivered(int port)
{
    // TCP states (include/net/tcp_states.h) in which a connection still owes the peer
    // data or its FIN: ESTABLISHED, SYN_SENT, FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING
    static const int owing[] = {0x01, 0x02, 0x04, 0x08, 0x09, 0x0B};
    size_t owed = 0;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::FILE* file = std::fopen(table, "r");
        if (file == nullptr)
            continue;
        char line[512];
        std::fgets(line, sizeof line, file); // the header
        while (std::fgets(line, sizeof line, file) != nullptr) {
            char remote[128];
            unsigned state = 0, tx_queue = 0;
            if (std::sscanf(line, "%*s %*s %127s %x %x", remote, &state, &tx_queue) != 3)
                continue;
            const char* colon = std::strrchr(remote, ':');
            if (colon == nullptr or std::strtol(colon + 1, nullptr, 16) != port)
                continue;
            if (std::find(std::begin(owing), std::end(owing), static_cast<int>(state))
                != std::end(owing))
                owed += std::max<size_t>(tx_queue, 1);
        }
        std::fclose(file);
    }
    return owed;
}

void tx_engine::_event(uhd::async_metadata_t::event_code_t code, int64_t w)
{
    uhd::async_metadata_t md;
    md.channel       = 0;
    md.has_time_spec = true;
    md.time_spec     = _clock->to_spec(w);
    md.event_code    = code;
    async.push(md);
    if (code == uhd::async_metadata_t::EVENT_CODE_UNDERFLOW)
        std::fputs("U", stderr);
    else if (code == uhd::async_metadata_t::EVENT_CODE_TIME_ERROR)
        std::fputs("L", stderr);
}

size_t tx_engine::send(const void* buff, cpu_format format, size_t n,
    const uhd::tx_metadata_t& md, double timeout)
{
    const auto deadline = deadline_in(_clock->fast() ? std::max(timeout, FAST_WAIT_S) : timeout);
    size_t done = 0;
    bool first  = true;
    do {
        std::unique_lock<std::mutex> lock(_mutex);
        if (not _cv.wait_until(lock, deadline, [this] { return _queued < _capacity; }))
            break;
        const size_t take = std::min(n - done, _capacity - _queued);
        chunk c;
        c.timed = first and md.has_time_spec;
        if (c.timed)
            c.w = _clock->to_wall(md.time_spec);
        c.eob = md.end_of_burst and done + take == n;
        c.samples.resize(take);
        if (take)
            convert_in(buff, format, done, take, c.samples.data());
        _queue.push_back(std::move(c));
        _queued += take;
        done += take;
        first = false;
        _cv.notify_all(); // the engine may be waiting for these
    } while (done < n);
    return done;
}

// Samples for wall ticks [k, k+n): queued bursts where they are due, zeros elsewhere.
// How many ticks it covered: n (pad), or where the queue ran dry (skip, until_dry),
// reporting no underflow: skip, the medium stood still and nothing was missed;
// until_dry, fast pacing waits for the application's next samples.
size_t tx_engine::_fill(cf* out, size_t n, int64_t k, fill_mode mode)
{
    std::fill(out, out + n, cf(0.0f, 0.0f));
    std::lock_guard<std::mutex> lock(_mutex);
    size_t pos = 0;
    while (pos < n) {
        if (_queue.empty()) {
            if (mode != fill_mode::pad) {
                // skip: the application was held by the medium, not late: its
                // next samples start afresh rather than after an underflow
                if (mode == fill_mode::skip)
                    _underflowing = _in_burst;
                _cv.notify_all();
                return pos;
            }
            if (_in_burst and not _underflowing) {
                _underflowing = true;
                _event(uhd::async_metadata_t::EVENT_CODE_UNDERFLOW, k + pos);
            }
            break;
        }
        chunk& c = _queue.front();
        if (_dropping and not c.timed) {
            _queued -= c.samples.size() - c.used;
            _dropping = not c.eob;
            _queue.pop_front();
            continue;
        }
        _dropping = false;
        if (c.timed and c.used == 0) {
            const int64_t here = k + static_cast<int64_t>(pos);
            if (c.w < here) { // late: UHD drops the burst and says so
                _event(uhd::async_metadata_t::EVENT_CODE_TIME_ERROR, c.w);
                _queued -= c.samples.size();
                _dropping = not c.eob;
                _in_burst = false;
                _queue.pop_front();
                continue;
            }
            if (c.w > here) {
                pos = static_cast<size_t>(std::min<int64_t>(n, c.w - k));
                if (pos == n)
                    break;
            }
        }
        const size_t take = std::min(n - pos, c.samples.size() - c.used);
        std::copy_n(c.samples.data() + c.used, take, out + pos);
        pos += take;
        c.used += take;
        _queued -= take;
        _in_burst     = true;
        _underflowing = false;
        if (c.used == c.samples.size()) {
            if (c.eob) {
                _in_burst = false;
                _event(uhd::async_metadata_t::EVENT_CODE_BURST_ACK, k + pos);
            }
            _queue.pop_front();
        }
    }
    _cv.notify_all();
    return n;
}

// The application's next samples, if a burst is on and they are not queued yet.
void tx_engine::_await(double seconds)
{
    std::unique_lock<std::mutex> lock(_mutex);
    if (_in_burst)
        _cv.wait_for(lock, std::chrono::duration<double>(seconds), [this] {
            return not _queue.empty() or not _running;
        });
}

void tx_engine::_run()
{
    const double rate    = _clock->rate();
    const int64_t lead   = static_cast<int64_t>(std::max(1.0, LEAD_S * rate));
    const int64_t least  = static_cast<int64_t>(std::max(1.0, CHUNK_S * rate));
    // small messages: what waits in ZeroMQ's queues is latency on the air
    const int64_t most   = std::max<int64_t>(least, static_cast<int64_t>(MESSAGE_S * rate));
    const int64_t behind = static_cast<int64_t>(std::max(1.0, SKIP_S * rate));
    std::vector<cf> out;
    tuning_t tuning;
    int64_t k = _clock->wall(); // the next sample's wall tick
    while (_running) {
        const int64_t wall = _clock->wall();
        // The medium stood still (the emulator waits for every receiver before time
        // starts) while the clock ran on: what was due meanwhile went on the air with
        // no one listening, and a burst still on goes on from where it is now.
        while (wall - k > behind) {
            const size_t n = static_cast<size_t>(std::min(wall - k, most));
            out.resize(n);
            if (_fill(out.data(), n, k, fill_mode::skip) < n)
                k = wall; // nothing more queued
            else
                k += static_cast<int64_t>(n);
        }
        const int64_t due = wall + lead - k;
        if (due < least) {
            sleep_ticks(least - due, rate);
            continue;
        }
        const size_t n = static_cast<size_t>(std::min(due, most));
        _await(CHUNK_S); // a busy application refills within the lead
        out.resize(n);
        _fill(out.data(), n, k, fill_mode::pad);
        for (size_t pos = 0; pos < n;) { // tuning changes land on their sample
            const int64_t next = schedule.advance(k + pos, tuning);
            const size_t len   = static_cast<size_t>(
                std::min<int64_t>(n - pos, next - (k + static_cast<int64_t>(pos))));
            mix(out.data() + pos, len, k + pos, tuning, rate, +1.0);
            pos += len;
        }
        if (not _push(out.data(), n))
            return;
        k += static_cast<int64_t>(n);
    }
}

// Blocks while the emulator's queue is full (the medium is lock-step); false when
// the socket failed or the engine stops.
bool tx_engine::_push(const cf* samples, size_t n)
{
    while (_running) {
        if (zmq_send(_socket, samples, n * sizeof(cf), ZMQ_DONTWAIT) >= 0) {
            {
                std::lock_guard<std::mutex> lock(_mutex);
                ++_pushes;
            }
            _cv.notify_all();
            return true;
        }
        if (zmq_errno() != EAGAIN)
            return false;
        zmq_pollitem_t item = {_socket, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&item, 1, 50);
    }
    return false;
}

// Fast pacing: samples go as soon as the emulator takes them, the clock follows.
void tx_engine::_run_fast()
{
    using steady = std::chrono::steady_clock;
    const double rate   = _clock->rate();
    const int64_t least = static_cast<int64_t>(std::max(1.0, CHUNK_S * rate));
    const int64_t most  = std::max<int64_t>(least, static_cast<int64_t>(MESSAGE_S * rate));
    std::vector<cf> out;
    tuning_t tuning;
    int64_t k = _clock->wall();
    bool idle    = false; // nothing queued and no burst on: silence at real-time pace
    bool starved = false; // the application left a burst without samples for STALL_S
    steady::time_point idle_t0;
    int64_t idle_k0 = 0;
    while (_running) {
        int64_t n = most;
        if (not _drives) { // the receiver's clock leads: keep within reach of it
            const int64_t room = _clock->wall() + FAST_LEAD - k;
            if (room <= 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                continue;
            }
            n = std::min(n, room);
        }
        bool empty, in_burst;
        {
            std::unique_lock<std::mutex> lock(_mutex);
            if (_queue.empty() and _in_burst and not starved) // nothing runs late: wait
                starved = not _cv.wait_for(lock, std::chrono::duration<double>(STALL_S),
                    [this] { return not _queue.empty() or not _running; });
            empty    = _queue.empty();
            in_burst = _in_burst;
            starved  = starved and empty;
        }
        if (empty) { // idle (or a burst stalled for STALL_S: _fill reports the underflow)
            const steady::time_point now = steady::now();
            if (not idle or in_burst) {
                idle    = true;
                idle_t0 = now;
                idle_k0 = k;
            }
            const std::chrono::duration<double> since = now - idle_t0;
            int64_t allowed = idle_k0 + static_cast<int64_t>(since.count() * rate) - k;
            if (allowed > most) { // the medium held us back: do not rush to catch up
                idle_t0 = now;
                idle_k0 = k;
                allowed = most;
            }
            if (allowed < least) {
                std::unique_lock<std::mutex> lock(_mutex);
                _cv.wait_for(lock, std::chrono::duration<double>((least - allowed) / rate),
                    [this] { return not _queue.empty() or not _running; });
                continue;
            }
            n = std::min(n, allowed);
        } else {
            idle = false;
        }
        out.resize(static_cast<size_t>(n));
        // in a burst, only what is queued: the rest waits for the application
        const size_t covered =
            _fill(out.data(), out.size(), k, empty ? fill_mode::pad : fill_mode::until_dry);
        if (covered == 0)
            continue;
        out.resize(covered);
        n = static_cast<int64_t>(covered);
        for (size_t pos = 0; pos < out.size();) {
            const int64_t next = schedule.advance(k + pos, tuning);
            const size_t len   = static_cast<size_t>(
                std::min<int64_t>(out.size() - pos, next - (k + static_cast<int64_t>(pos))));
            mix(out.data() + pos, len, k + pos, tuning, rate, +1.0);
            pos += len;
        }
        if (not _push(out.data(), out.size()))
            return;
        k += n;
        if (_drives)
            _clock->drive(k);
    }
}

// ---------------------------------------------------------------- RX

rx_engine::rx_engine(std::shared_ptr<device_clock> clock, const std::string& endpoint)
    : _clock(std::move(clock)), _endpoint(endpoint)
{
    _socket   = open_socket(_context, ZMQ_PULL, endpoint);
    _capacity = static_cast<size_t>(std::max(65536.0, RX_KEEP_S * _clock->rate()));
    _thread   = std::thread([this] { _run(); });
}

rx_engine::~rx_engine()
{
    _running = false;
    _cv.notify_all();
    _thread.join();
    close_socket(_context, _socket);
}

void rx_engine::issue(const uhd::stream_cmd_t& cmd)
{
    command c;
    c.mode      = cmd.stream_mode;
    c.num_samps = cmd.num_samps;
    c.now       = cmd.stream_now;
    c.w         = cmd.stream_now ? 0 : _clock->to_wall(cmd.time_spec);
    std::lock_guard<std::mutex> lock(_mutex);
    if (c.mode == uhd::stream_cmd_t::STREAM_MODE_STOP_CONTINUOUS and c.now) {
        // stop at once, whatever was queued
        _commands.clear();
        if (_active) {
            _active = false;
            if (not _blocks.empty())
                _blocks.back().eob = true;
        }
        return;
    }
    _commands.push_back(c);
}

// Real time, and the medium runs slower than the radio's rate (the emulator cannot
// serve it on this machine): its samples reach the device later and later. UHD's
// word for samples that are not there when due is an overflow; the log says why.
void rx_engine::_lagging(int64_t behind, int64_t w)
{
    const double rate = _clock->rate();
    std::fprintf(stderr,
                 "simulated USRP: the medium is %.1f s behind the device clock: the channel "
                 "emulator (or a transmitter it waits for) cannot keep up with %.6g Msps in "
                 "real time on this machine; lower the scenario's radio.rate, or set "
                 "pacing: fast\n",
                 static_cast<double>(behind) / rate, rate / 1e6);
    std::lock_guard<std::mutex> lock(_mutex);
    _error(uhd::rx_metadata_t::ERROR_CODE_OVERFLOW, w);
    _first = true; // what follows starts afresh
}

void rx_engine::_error(uhd::rx_metadata_t::error_code_t code, int64_t w)
{
    block b;
    b.w     = w;
    b.error = code;
    _blocks.push_back(std::move(b));
    _cv.notify_all();
}

// The next command may start at wall tick w: true if it does (or stops streaming).
bool rx_engine::_start_next(int64_t w)
{
    if (_commands.empty())
        return false;
    const command& c = _commands.front();
    if (not c.now and c.w > w)
        return false;
    if (not c.now and c.w < w) {
        _error(uhd::rx_metadata_t::ERROR_CODE_LATE_COMMAND, w);
        std::fputs("L", stderr);
        _commands.pop_front();
        _active = false;
        return true;
    }
    _current = c;
    _commands.pop_front();
    if (_current.mode == uhd::stream_cmd_t::STREAM_MODE_STOP_CONTINUOUS) {
        if (_active and not _blocks.empty())
            _blocks.back().eob = true;
        _active = false;
        return true;
    }
    if (not _active)
        _first = true;
    _active = true;
    _left   = _current.num_samps;
    return true;
}

void rx_engine::_keep(const cf* samples, size_t n, int64_t w, bool sob, bool eob)
{
    if (_kept + n > _capacity) { // the host did not read in time
        if (not _overflowing) {
            _overflowing = true;
            _error(uhd::rx_metadata_t::ERROR_CODE_OVERFLOW, w);
        }
        _first = true; // what follows an overflow starts afresh
        return;
    }
    _overflowing = false;
    if (not sob and not _blocks.empty()) {
        block& last = _blocks.back();
        if (last.error == uhd::rx_metadata_t::ERROR_CODE_NONE and not last.eob
            and last.w + static_cast<int64_t>(last.samples.size()) == w
            and last.samples.size() < (1u << 16)) {
            last.samples.insert(last.samples.end(), samples, samples + n);
            last.eob = eob;
            _kept += n;
            return;
        }
    }
    block b;
    b.w   = w;
    b.sob = sob;
    b.eob = eob;
    b.samples.assign(samples, samples + n);
    _kept += n;
    _blocks.push_back(std::move(b));
}

// Samples of wall ticks [w, w+n) arrived from the medium: keep what the commands ask for.
void rx_engine::_take(const cf* samples, size_t n, int64_t w)
{
    std::unique_lock<std::mutex> lock(_mutex);
    if (_clock->fast() and not _stalled) // the medium waits for the application to read
        _stalled = not _cv.wait_for(lock, std::chrono::duration<double>(STALL_S), [this, n] {
            return _kept + n <= _capacity or (not _active and _commands.empty()) or not _running;
        }); // for STALL_S at most, then it overflows until the application reads again
    size_t pos = 0;
    while (pos < n) {
        const int64_t here = w + static_cast<int64_t>(pos);
        if (not _active) {
            if (_start_next(here))
                continue;
            if (_commands.empty() or _commands.front().now)
                break;
            // a timed command later in this block: skip to it
            const int64_t at = _commands.front().w;
            if (at >= w + static_cast<int64_t>(n))
                break;
            pos = static_cast<size_t>(at - w);
            continue;
        }
        const bool counted = _current.mode != uhd::stream_cmd_t::STREAM_MODE_START_CONTINUOUS;
        size_t take        = n - pos;
        if (counted)
            take = static_cast<size_t>(std::min<uint64_t>(take, _left));
        const bool done = counted and take == _left;
        const bool more = _current.mode == uhd::stream_cmd_t::STREAM_MODE_NUM_SAMPS_AND_MORE;
        _keep(samples + pos, take, here, _first, done and not more);
        _first = false;
        pos += take;
        if (counted)
            _left -= take;
        if (not _commands.empty() and not counted) { // a stop or a new command replaces it
            _active = false;
            if (_start_next(w + static_cast<int64_t>(pos)))
                continue;
            _active = true;
        }
        if (done) {
            _active = false;
            if (more and _commands.empty()) {
                _error(uhd::rx_metadata_t::ERROR_CODE_BROKEN_CHAIN, w + pos);
            }
        }
    }
    _cv.notify_all();
}

void rx_engine::_run()
{
    const double rate = _clock->rate();
    const int64_t slack = static_cast<int64_t>(std::max(1.0, 0.002 * rate));
    std::vector<cf> samples;
    std::vector<char> carry;
    tuning_t tuning;
    const bool fast = _clock->fast();
    bool anchored  = false;
    int64_t anchor = 0, m = 0; // wall tick of the medium's sample 0; samples received
    // Until the medium starts (the emulator waits for every radio of the run) its
    // air is silent: zeros, so commands timed before then still find their samples
    // (in fast pacing too, that silence passes at real-time pace).
    int64_t silent = fast ? _clock->elapsed() : _clock->wall();
    std::vector<cf> zeros;
    zmq_msg_t message;
    const int64_t lag_limit = static_cast<int64_t>(LAG_S * rate);
    bool lagging = false;
    while (_running) {
        if (anchored and not fast) { // no faster than the clock: the medium moves at the pace of a radio
            const int64_t ahead = anchor + m - _clock->wall();
            if (ahead > slack) {
                sleep_ticks(ahead - slack, rate);
                continue;
            }
            if (-ahead > lag_limit and not lagging) { // the medium cannot keep up
                lagging = true;
                _lagging(-ahead, anchor + m);
            } else if (-ahead < slack)
                lagging = false;
        }
        zmq_pollitem_t item = {_socket, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0) {
            if (not anchored) {
                const int64_t now = fast ? _clock->elapsed() : _clock->wall();
                zeros.assign(static_cast<size_t>(now - silent), cf(0.0f, 0.0f));
                _take(zeros.data(), zeros.size(), silent);
                silent = now;
                if (fast)
                    _clock->drive(silent);
            }
            continue;
        }
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, _socket, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&message);
            continue;
        }
        const char* data = static_cast<const char*>(zmq_msg_data(&message));
        carry.insert(carry.end(), data, data + zmq_msg_size(&message));
        zmq_msg_close(&message);
        const size_t n = carry.size() / sizeof(cf);
        if (n == 0)
            continue;
        samples.resize(n);
        std::memcpy(samples.data(), carry.data(), n * sizeof(cf));
        carry.erase(carry.begin(), carry.begin() + n * sizeof(cf));
        if (not anchored) {
            anchor   = silent; // the medium's first sample follows its silence
            anchored = true;
        }
        const int64_t w = anchor + m;
        for (size_t pos = 0; pos < n;) {
            const int64_t next = schedule.advance(w + pos, tuning);
            const size_t len   = static_cast<size_t>(
                std::min<int64_t>(n - pos, next - (w + static_cast<int64_t>(pos))));
            mix(samples.data() + pos, len, w + pos, tuning, rate, -1.0);
            pos += len;
        }
        _take(samples.data(), n, w);
        m += static_cast<int64_t>(n);
        if (fast)
            _clock->drive(anchor + m);
    }
}

size_t rx_engine::recv(void* buff, cpu_format format, size_t n, uhd::rx_metadata_t& md,
    double timeout, bool one_packet, size_t packet)
{
    md.reset();
    if (one_packet)
        n = std::min(n, packet);
    std::unique_lock<std::mutex> lock(_mutex);
    const bool streaming = _active or not _commands.empty();
    const auto deadline =
        deadline_in(_clock->fast() and streaming ? std::max(timeout, FAST_WAIT_S) : timeout);
    size_t done  = 0;
    int64_t next = 0; // the wall tick the next sample must have to continue this buffer
    while (done < n) {
        if (not _cv.wait_until(lock, deadline, [this] { return not _blocks.empty(); })) {
            if (done == 0)
                md.error_code = uhd::rx_metadata_t::ERROR_CODE_TIMEOUT;
            break;
        }
        block& b = _blocks.front();
        if (b.error != uhd::rx_metadata_t::ERROR_CODE_NONE) {
            if (done > 0)
                break; // reported by the next call
            md.error_code    = b.error;
            md.has_time_spec = true;
            md.time_spec     = _clock->to_spec(b.w);
            if (b.error == uhd::rx_metadata_t::ERROR_CODE_OVERFLOW)
                std::fputs("O", stderr);
            _blocks.pop_front();
            return 0;
        }
        const int64_t at = b.w + static_cast<int64_t>(b.used);
        if (done > 0 and (at != next or (b.used == 0 and b.sob)))
            break; // not contiguous: the next call starts there, with its own time
        if (done == 0) {
            md.has_time_spec  = true;
            md.time_spec      = _clock->to_spec(at);
            md.start_of_burst = b.used == 0 and b.sob;
        }
        const size_t take = std::min(n - done, b.samples.size() - b.used);
        convert_out(b.samples.data() + b.used, take, format, buff, done);
        b.used += take;
        done += take;
        _kept -= take;
        next = at + static_cast<int64_t>(take);
        if (b.used == b.samples.size()) {
            const bool eob = b.eob;
            _blocks.pop_front();
            if (eob) {
                md.end_of_burst = true;
                break;
            }
        }
        if (one_packet)
            break;
    }
    if (done > 0 and _clock->fast()) {
        _stalled = false;
        _cv.notify_all(); // room for the medium's next samples
    }
    return done;
}

} // namespace radiops_sim
