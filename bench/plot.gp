# Fan-out against N, chatd and ngircd (bench/compare.sh's sweep).
#   gnuplot -e "datafile='sweep.dat'; outfile='perf-sweep.png'" bench/plot.gp
# sweep.dat columns: N, chatd deliveries/s, ngircd deliveries/s,
# chatd p99 ms, ngircd p99 ms (medians over the sweep's repetitions).
if (!exists("datafile")) datafile = 'sweep.dat'
if (!exists("outfile")) outfile = 'perf-sweep.png'

set terminal pngcairo size 1100,460 font ",10"
set output outfile
set datafile missing "NaN"
set multiplot layout 1,2 title "Fan-out in one room: S=10 senders, W=8 in flight each, 100-byte messages; servers pinned to one core"

set logscale x
set xrange [7:1400]
set xtics (10, 100, 300, 1000)
set xlabel "N (clients in the room)"
set grid
set key top left

set title "Throughput"
set ylabel "deliveries/s (millions)"
set yrange [0:*]
plot datafile using 1:($2/1e6) with linespoints lw 2 pt 7 title "chatd (encrypted)", \
     datafile using 1:($3/1e6) with linespoints lw 2 pt 5 title "ngircd (plaintext)"

set title "Latency"
set ylabel "p99 latency (ms)"
set logscale y
set yrange [*:*]
plot datafile using 1:4 with linespoints lw 2 pt 7 title "chatd", \
     datafile using 1:5 with linespoints lw 2 pt 5 title "ngircd"

unset multiplot
