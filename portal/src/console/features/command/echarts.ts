// ECharts through echarts/core with only what the command screen draws (tree-shaken), and
// vue-echarts' CSP build: its stylesheet is a file, since the console's CSP allows no inline <style>.
import { BarChart, LineChart, PieChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components'
import { use } from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'
import VChart from 'vue-echarts/csp'
import 'vue-echarts/csp/style.css'

use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer])

export default VChart
