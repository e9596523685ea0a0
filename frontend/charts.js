// ECharts, loaded only by pages that draw charts.
import * as echarts from "echarts";

window.echarts = echarts;
